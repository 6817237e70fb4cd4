/*
 * app.h -- process entry: subcommand dispatch (shell).
 */
#ifndef MB_APP_H
#define MB_APP_H

/* Runs the membudget command line; returns the process exit status.
 * Runs on the main thread; owns the event loop for serving subcommands. */
int mb_main(int argc, char **argv);

#endif
