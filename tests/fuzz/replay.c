/* Runs fuzz inputs through a fuzz target without libFuzzer, so that CI replays each seed
 * corpus as an ordinary test with any compiler (and under ASan). Shared by every target:
 * link it with one fuzz-<parser>.c. Arguments are files, or directories whose regular files
 * (not hidden ones, not recursively) are run in name order; arguments starting with '-' are
 * libFuzzer options and are ignored, so both binaries take the same command line. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "vps/fd.h"

/* Enough for any seed; a larger file is a mistake in the corpus, not an input to skip. */
#define REPLAY_MAX_BYTES (16 * 1024 * 1024)

static int run_file(int dir_fd, const char *name, const char *shown)
{
    struct vps_error err = {0};
    cleanup_free char *text = NULL;
    size_t len = 0;

    if (vps_read_at(dir_fd, name, REPLAY_MAX_BYTES, &text, &len, &err) < 0) {
        char msg[1024];
        fprintf(stderr, "replay: %s: %s\n", shown, vps_error_format(&err, msg, sizeof msg));
        return -1;
    }
    /* An exact-size copy, so that ASan sees any read past the end of the input. */
    cleanup_free uint8_t *data = malloc(len ? len : 1);
    if (!data) {
        fprintf(stderr, "replay: %s: out of memory\n", shown);
        return -1;
    }
    memcpy(data, text, len);
    printf("replay: %s (%zu bytes)\n", shown, len);
    fflush(stdout); /* so that a crash report follows the name of its input */
    (void) LLVMFuzzerTestOneInput(data, len);
    return 0;
}

static int skip_entry(const struct dirent *de)
{
    return de->d_name[0] != '.';
}

static int run_dir(const char *path, size_t *n_run)
{
    struct dirent **names = NULL;
    int r = 0;

    cleanup_close int dir_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) {
        fprintf(stderr, "replay: open '%s': %s\n", path, strerror(errno));
        return -1;
    }
    int n = scandir(path, &names, skip_entry, alphasort);
    if (n < 0) {
        fprintf(stderr, "replay: read directory '%s': %s\n", path, strerror(errno));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        struct stat st;
        char shown[4096];

        snprintf(shown, sizeof shown, "%s/%s", path, names[i]->d_name);
        if (fstatat(dir_fd, names[i]->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode)) {
            if (run_file(dir_fd, names[i]->d_name, shown) < 0)
                r = -1;
            else
                (*n_run)++;
        }
        free(names[i]);
    }
    free(names);
    return r;
}

int main(int argc, char **argv)
{
    size_t n_run = 0;
    int r = 0;

    if (LLVMFuzzerInitialize)
        (void) LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        struct stat st;

        if (argv[i][0] == '-')
            continue;
        if (stat(argv[i], &st) < 0) {
            fprintf(stderr, "replay: '%s': %s\n", argv[i], strerror(errno));
            r = -1;
        } else if (S_ISDIR(st.st_mode)) {
            if (run_dir(argv[i], &n_run) < 0)
                r = -1;
        } else if (run_file(AT_FDCWD, argv[i], argv[i]) < 0) {
            r = -1;
        } else {
            n_run++;
        }
    }
    /* An empty or missing corpus would make the test pass without testing anything. */
    if (n_run == 0) {
        fprintf(stderr, "replay: no inputs; usage: %s FILE|DIR...\n", argv[0]);
        return EXIT_FAILURE;
    }
    printf("replay: %zu inputs, no crash\n", n_run);
    return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
