/* SPDX-License-Identifier: MIT
 *
 * replay.c: a main() for fuzz targets without libFuzzer: runs the target once on
 * every file named on the command line, or in the directories named there. CTest
 * uses it to replay each corpus on every build, so gcc builds cover the corpora too.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *data = malloc(cap);
    size_t n;
    while (data != NULL && (n = fread(data + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *bigger = realloc(data, cap *= 2);
            if (bigger == NULL)
                free(data);
            data = bigger;
        }
    }
    fclose(f);
    if (data == NULL)
        return 1;
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    return 0;
}

int
main(int argc, char **argv)
{
    int failed = 0, n_files = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed |= run_file(argv[i]);
            n_files++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        if (d == NULL) {
            perror(argv[i]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            failed |= run_file(path);
            n_files++;
        }
        closedir(d);
    }
    printf("%d passed, %d failed\n", failed ? 0 : n_files, failed ? 1 : 0);
    return failed;
}
