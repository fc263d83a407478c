/* The libFuzzer entry points, declared once for the fuzz targets and for replay.c, which
 * drives any one of them without libFuzzer. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Runs one input. Must not crash, leak or keep state between calls; returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional one-time setup; a target that needs none does not define it. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
