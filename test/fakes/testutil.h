/* testutil.h -- small helpers shared by the check suites. */
#ifndef MB_TESTUTIL_H
#define MB_TESTUTIL_H

#include <check.h>
#include <jansson.h>

/* Parse JSON text or fail the current test. Returns: new reference. */
json_t *tu_json(const char *text);

/* Read a whole file under the source tree (MB_SRCDIR or "."). Returns: new
 * string, or fails the test. *len may be NULL. */
char *tu_read_file(const char *relpath, size_t *len);

/* A pod JSON object from a compact description used by many tables. */
json_t *tu_pod(const char *annotations_json, const char *containers_json);

/* Decode standard base64 (padding optional). Returns: new NUL-terminated
 * buffer, or fails the test on a bad character. */
char *tu_base64_decode(const char *b64, size_t *len);

/* Write `text` to dir/name atomically (write, then rename), or fail the test. */
void tu_write_file(const char *dir, const char *name, const char *text);

/* Count the heap our allocation hooks hand out (jansson's too, arena chunks
 * included) from now on: bytes in use and their peak. tu_heap_end() puts
 * libc's allocator back and returns the peak, in bytes, since
 * tu_heap_begin(). For tests that hold a memory bound. */
void tu_heap_begin(void);
long long tu_heap_end(void);

/* Capture what this process writes to stderr (the JSON log) until
 * tu_stderr_end(), which puts stderr back and returns the text (new
 * string). For tests that read what was logged. */
void tu_stderr_begin(void);
char *tu_stderr_end(void);

#endif
