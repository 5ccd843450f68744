/* cpu_limit.c: a CPU-time limit on model.lua. The Lua host counts instructions, but one
 * C call of the string library (a pattern that backtracks without end) runs no Lua
 * instruction, so a timer on the process's user time is the backstop: when it fires,
 * the prepared diagnostic goes to stderr and the process exits with status 1. Nothing
 * is written before model.lua has run, so no output file is left half-written. */
#define _XOPEN_SOURCE 700
#include "attncc.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static char limit_message[1024];
static size_t limit_message_len;

static void limit_reached(int sig) {
  (void)sig;
  /* only async-signal-safe calls here */
  ssize_t written = write(STDERR_FILENO, limit_message, limit_message_len);
  (void)written;
  _exit(1);
}

void cpu_limit_arm(const char *model_path, int seconds) {
  if (seconds <= 0)
    return;
  snprintf(limit_message, sizeof limit_message,
           "%s: error: model.lua ran for more than %d s of CPU time (a string pattern that "
           "backtracks without end?)\n",
           model_path, seconds);
  limit_message_len = strlen(limit_message);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = limit_reached;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGVTALRM, &sa, NULL);
  struct itimerval t;
  memset(&t, 0, sizeof t);
  t.it_value.tv_sec = seconds;
  setitimer(ITIMER_VIRTUAL, &t, NULL);
}

void cpu_limit_disarm(void) {
  struct itimerval t;
  memset(&t, 0, sizeof t);
  setitimer(ITIMER_VIRTUAL, &t, NULL);
}
