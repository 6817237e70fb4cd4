/* main.c -- the whole program lives in libmembudget (src/app/main.c). */
#include "membudget/app.h"

int main(int argc, char **argv) { return mb_main(argc, argv); }
