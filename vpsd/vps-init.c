/* vps-init: the PID 1 a VPS runs when its template brings no init of its own. It reaps the
 * orphans the kernel hands to PID 1, forwards shutdown and control signals to every process
 * of the VPS, and leaves when asked. Starting services is vpsd's (it setns()es into the VPS);
 * this program only keeps the pid namespace alive and clean.
 *
 * Contract:
 *   vps-init                     wait for signals, reaping children, until SIGTERM or SIGINT.
 *   vps-init -- CMD [ARG...]     the same, after starting CMD (looked up in PATH when it has
 *                                no '/') as a child with an empty signal mask. CMD's exit is
 *                                logged and changes nothing: the VPS stays up.
 *   SIGTERM, SIGINT              sent to every other process of the namespace (kill(-1)),
 *                                followed by SIGCONT so stopped ones act on it; vps-init then
 *                                reaps until no child is left (waitpid() says ECHILD) and
 *                                exits 0. A process that ignores the signal keeps it waiting:
 *                                vpsd's stop escalates to SIGKILL of this PID 1, which takes
 *                                the whole namespace down.
 *   SIGHUP, SIGUSR1, SIGUSR2     sent to every other process of the namespace; nothing else.
 *   exit 2                       bad arguments, or not PID 1: kill(-1) outside a pid namespace
 *                                of its own would signal every process on the host.
 *   exit 1                       it could not set up its signals or fork CMD.
 *
 * It is linked statically because vpsd runs it with execveat(AT_EMPTY_PATH) from an fd of
 * the host's file, after pivot_root into the VPS: there the program interpreter and libc that
 * a dynamic binary names are looked up in the VPS's rootfs, which may have none, or ones the
 * VPS's root has replaced. It allocates nothing and uses no libvps. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t) n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    /* One write() per line, so lines of concurrent writers to a shared console stay whole. */
    (void) !write(STDERR_FILENO, line, (size_t) n);
}

/* All signals this program handles stay blocked and are taken with sigwaitinfo(): no handler
 * runs asynchronously, and a blocked signal is queued even for a namespace's init, which the
 * kernel otherwise shields from signals it has no handler for. */
static int block_signals(sigset_t *ret_set)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};

    sigemptyset(ret_set);
    sigaddset(ret_set, SIGCHLD);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaddset(ret_set, forwarded[i]);
    /* An ignored SIGCHLD survives execve(); with it the kernel reaps children itself and
     * waitpid() cannot report the command's status. Reset all of ours to default. */
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(ret_set, sig) == 1 && sigaction(sig, &dfl, NULL) < 0)
            return -1;
    return sigprocmask(SIG_SETMASK, ret_set, NULL);
}

static pid_t spawn(char **argv)
{
    sigset_t none;
    pid_t pid = fork();

    if (pid != 0)
        return pid;
    /* The mask survives execve(); the command must get its signals like any program. */
    sigemptyset(&none);
    (void) sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(argv[0], argv);
    say("vps-init: exec '%s': %s", argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
}

static void report_command(const char *name, int status)
{
    if (WIFEXITED(status))
        say("vps-init: '%s' exited with status %d", name, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        say("vps-init: '%s' was killed by signal %d (%s)", name, WTERMSIG(status),
            strsignal(WTERMSIG(status)));
}

/* Reaps every child that has exited. Returns false once no child is left at all. */
static bool reap(pid_t cmd_pid, const char *cmd_name)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);

        if (pid > 0) {
            if (pid == cmd_pid)
                report_command(cmd_name, status);
            continue;
        }
        if (pid == 0)
            return true;
        if (errno != EINTR)
            return false; /* ECHILD */
    }
}

static void forward(int sig)
{
    /* From a namespace's init, kill(-1) reaches every process of the namespace but itself.
     * ESRCH only means there is nobody left. */
    (void) kill(-1, sig);
    if (sig == SIGTERM || sig == SIGINT)
        (void) kill(-1, SIGCONT);
}

int main(int argc, char **argv)
{
    sigset_t set;
    pid_t cmd_pid = -1;
    bool stopping = false;

    if (argc == 2 || (argc > 2 && strcmp(argv[1], "--") != 0)) {
        say("usage: vps-init [-- COMMAND [ARG...]]");
        return 2;
    }
    if (getpid() != 1) {
        say("vps-init: must run as PID 1 of its own pid namespace");
        return 2;
    }
    if (block_signals(&set) < 0) {
        say("vps-init: block signals: %s", strerror(errno));
        return 1;
    }
    if (argc > 2 && (cmd_pid = spawn(argv + 2)) < 0) {
        say("vps-init: fork for '%s': %s", argv[2], strerror(errno));
        return 1;
    }
    for (;;) {
        int sig = sigwaitinfo(&set, NULL);

        if (sig < 0)
            continue; /* EINTR: a stop and continue of this process */
        if (sig != SIGCHLD) {
            forward(sig);
            stopping = stopping || sig == SIGTERM || sig == SIGINT;
        }
        if (!reap(cmd_pid, argc > 2 ? argv[2] : "") && stopping)
            return 0;
    }
}
