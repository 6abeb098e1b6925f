/* The reference for `cargo xtask bench cutout`: CFITSIO copying an image section, as imcopy does
 * (fits_copy_image_section: header carried over, WCS updated, pixels copied), into a memory file.
 *
 * Usage: section FILE x1:x2,y1:y2 COUNT
 * Prints the wall time per copy in microseconds; the input stays open, as the server's does.
 */
#include <fitsio.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: section FILE SECTION COUNT\n");
        return 2;
    }
    int status = 0;
    fitsfile *in;
    if (fits_open_file(&in, argv[1], READONLY, &status)) {
        fits_report_error(stderr, status);
        return 1;
    }
    long count = atol(argv[3]);
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long i = 0; i < count; i++) {
        fitsfile *out;
        fits_create_file(&out, "mem://", &status);
        fits_copy_image_section(in, out, argv[2], &status);
        fits_close_file(out, &status);
        if (status) {
            fits_report_error(stderr, status);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double us = ((end.tv_sec - start.tv_sec) * 1e9 + (end.tv_nsec - start.tv_nsec)) / 1e3 / count;
    printf("%.2f\n", us);
    fits_close_file(in, &status);
    return 0;
}
