/* vpsctl service add|list|show|remove|start|stop. Placeholder until the commands land. */
