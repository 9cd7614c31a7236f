/* replay.c: runs a fuzz target's LLVMFuzzerTestOneInput once on each file
 * given (a directory: each file in it, in name order), without libFuzzer,
 * and prints one TAP line per file. The seed corpora hold the inputs of
 * the bugs fuzzing found, so every test tree replays them (build-asan
 * under the sanitizers); a crash or a failed check aborts the run.
 * Usage: replay_TARGET FILE-OR-DIRECTORY... */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tap.h"
#include "util/file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void replay_file(const char *path)
{
    size_t len;
    char err[300];
    char *data = util_read_file(path, 1u << 20, &len, err, sizeof err);
    if (data == NULL) {
        TAP_OK(false, "%s: %s", path, err);
        return;
    }
    fflush(stdout); /* the name is known if the input aborts */
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    free(data);
    TAP_OK(true, "%s", path);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            struct dirent **names;
            int n = scandir(argv[i], &names, NULL, by_name);
            for (int k = 0; k < n; k++) {
                if (names[k]->d_name[0] != '.') {
                    char path[4096];
                    snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
                    replay_file(path);
                }
                free(names[k]);
            }
            if (n >= 0)
                free(names);
            else
                TAP_OK(false, "%s: cannot read the directory", argv[i]);
        } else {
            replay_file(argv[i]);
        }
    }
    return tap_done();
}
