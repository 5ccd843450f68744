/* determinism_main.c: a generated model gives bit-identical outputs (memcmp) run to run
 * in one process, and when two threads run it at the same time, each with its own
 * workspace and outputs. The workspaces start with different garbage, so a read of
 * workspace memory the model did not write first shows up as a difference too. */
#define _POSIX_C_SOURCE 200809L
#include "model_data.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUNDS 4 /* pairs of concurrent runs */

typedef struct {
  const ModelData *d;
  void **out;
  void *ws;
  int rc;
} Job;

static void *run_job(void *arg) {
  Job *j = arg;
  j->rc = run_model(j->d, j->out, j->ws);
  return NULL;
}

static Job job_new(const ModelData *d, unsigned char garbage) {
  Job j = {d, outputs_new(d), workspace_new(), 0};
  if (j.ws)
    memset(j.ws, garbage, workspace_bytes());
  for (int k = 0; k < d->nout; k++)
    memset(j.out[k], garbage, output_bytes(k));
  return j;
}

static int same_outputs(const ModelData *d, const Job *a, const Job *b, const char *what) {
  for (int k = 0; k < d->nout; k++)
    if (memcmp(a->out[k], b->out[k], output_bytes(k)) != 0) {
      fprintf(stderr, "determinism: output %d differs %s\n", k, what);
      return 0;
    }
  return 1;
}

int main(void) {
  ModelData d;
  data_init(&d);
  Job first = job_new(&d, 0x00), again = job_new(&d, 0xff);
  run_job(&first);
  run_job(&again);
  int ok = first.rc == 0 && again.rc == 0 && same_outputs(&d, &first, &again, "run to run");
  run_job(&again); /* the same workspace a second time */
  ok = ok && again.rc == 0 && same_outputs(&d, &first, &again, "with a reused workspace");
  for (int round = 0; ok && round < ROUNDS; round++) {
    Job t[2] = {job_new(&d, 0x7f), job_new(&d, (unsigned char)(0x80 + round))};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
      if (pthread_create(&th[i], NULL, run_job, &t[i]) != 0) {
        fprintf(stderr, "determinism: pthread_create failed\n");
        return 2;
      }
    for (int i = 0; i < 2; i++) {
      pthread_join(th[i], NULL);
      ok = ok && t[i].rc == 0 && same_outputs(&d, &first, &t[i], "between two threads");
    }
    for (int i = 0; i < 2; i++) {
      outputs_free(&d, t[i].out);
      free(t[i].ws);
    }
  }
  outputs_free(&d, first.out);
  outputs_free(&d, again.out);
  free(first.ws);
  free(again.ws);
  data_free(&d);
  if (ok)
    printf("determinism: bit-identical run to run and across 2 threads x %d rounds\n", ROUNDS);
  return ok ? 0 : 1;
}
