/*
 * Worker supervision for a study: util/proc runs the process; what is
 * left here is the study's reading of how it ended (outcome, error type
 * and message) and of what it left (stdout as the result, the log tail).
 */
#include "study/worker.h"
#include "util/proc.h"
#include "util/util.h"
#include "llem/errors.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static void classify(struct worker_result *out, const struct proc *p, const struct worker_opts *o,
		     size_t max_output)
{
	if (WIFEXITED(p->status))
		out->exit_code = WEXITSTATUS(p->status);
	else if (WIFSIGNALED(p->status))
		out->signal = WTERMSIG(p->status);

	switch (p->reason) {
	case PROC_REASON_INTERRUPT:
		out->outcome = WORKER_INTERRUPTED;
		out->error_type = xstrdup("Interrupted");
		out->error_message =
			xstrdup(p->interrupt_level >= 2 ? "stopped by an interrupt (SIGKILL)"
							: "stopped by an interrupt (SIGTERM)");
		return;
	case PROC_REASON_TIMEOUT:
		out->outcome = WORKER_TIMEOUT;
		out->error_type = xstrdup("TimeoutError");
		out->error_message = xasprintf("killed after the %g s timeout", o->timeout_s);
		return;
	case PROC_REASON_TOO_LARGE:
		out->outcome = WORKER_OUTPUT_TOO_LARGE;
		out->error_type = xstrdup("WorkerError");
		out->error_message =
			xasprintf("killed: its output exceeded the %zu-byte limit", max_output);
		return;
	case PROC_REASON_NONE: break;
	}
	if (out->signal) {
		const char *name = strsignal(out->signal);

		out->outcome = WORKER_SIGNALED;
		out->error_type = xstrdup("ProcessCrash");
		out->error_message =
			xasprintf("killed by signal %d (%s)", out->signal, name ? name : "unknown");
	} else if (out->exit_code == 0) {
		out->outcome = WORKER_OK;
	} else {
		out->outcome = WORKER_EXIT_NONZERO;
		out->error_type = xstrdup("WorkerError");
		out->error_message = xasprintf("exited with code %d", out->exit_code);
	}
}

int worker_run(struct worker_result *out, const struct worker_opts *o)
{
	struct proc p = { 0 };
	struct proc_opts po = { 0 };
	size_t max_output;
	int rc;

	memset(out, 0, sizeof(*out));
	out->exit_code = -1;
	if (!o || !o->argv || !o->argv[0])
		return error_set(LLEM_EINVAL, "worker_run: no program to run");
	max_output = o->max_output ? o->max_output : WORKER_DEFAULT_MAX_OUTPUT;
	po.argv = o->argv;
	po.env_set = o->env_set;
	po.env_unset = o->env_unset;
	po.in = o->stdin_text ? PROC_STDIN_TEXT : PROC_STDIN_NULL;
	po.stdin_text = o->stdin_text;
	po.err = o->log_path ? PROC_STDERR_LOG : PROC_STDERR_TAIL;
	po.log_path = o->log_path;
	po.interrupt = o->interrupt;
	po.grace_s = o->grace_s > 0 ? o->grace_s : WORKER_DEFAULT_GRACE_S;
	po.max_output = max_output;

	rc = proc_start(&p, &po);
	if (rc < 0 && p.spawn_errno) {
		/* Not llem's failure: the outcome says it all. */
		out->outcome = WORKER_SPAWN_FAILED;
		out->error_type = xstrdup("SpawnError");
		out->error_message = xstrdup(error_last());
		rc = 0;
		goto out;
	}
	if (rc < 0)
		goto out;
	rc = proc_wait(&p, o->timeout_s);
	if (rc < 0)
		goto out;
	out->wall_s = p.wall_s;
	classify(out, &p, o, max_output);

out:
	if (rc == 0) {
		out->output_len = p.out.len;
		out->output = strbuf_detach(&p.out);
		out->log_tail = proc_stderr_tail(&p, WORKER_LOG_TAIL_LINES);
	}
	proc_release(&p);
	return rc;
}

void worker_result_release(struct worker_result *r)
{
	if (!r)
		return;
	free(r->output);
	free(r->log_tail);
	free(r->error_type);
	free(r->error_message);
	memset(r, 0, sizeof(*r));
}

int worker_become_subreaper(void)
{
	return proc_become_subreaper();
}
