/* main.c -- subcommand dispatch (shell). */
#include <stdio.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/app.h"

int mb_main(int argc, char **argv)
{
    mb_alloc_install_json();
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: membudget COMMAND\n");
        return argc < 2 ? 2 : 0;
    }
    fprintf(stderr, "membudget: unknown command \"%s\"\n", argv[1]);
    return 2;
}
