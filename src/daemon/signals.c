/* signals.c -- the daemon's stop signals.
 *
 * SIGINT, SIGTERM and SIGHUP are blocked in every thread and taken by one
 * thread with sigwait(), so no thread of the core ever sees EINTR.  SIGINT
 * and SIGTERM are handled even when the daemon was started with them
 * ignored, as a shell starts background commands.  While the stack opens
 * there is no target: the first signal asks daemon_open to give up after
 * the step under way, a second ends the process at once.  Once serving,
 * each signal asks the target daemon to stop (draining the frontends,
 * then the final flush): a second one only says it is already stopping.
 * This state is process-wide, as signals are. */
#include "daemon/daemon_int.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

static struct {
	pthread_mutex_t mu;
	bool started;
	int stops;                 /* stop signals received */
	struct daemon *target;
} sig = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void stop_signal_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

/* Under sig.mu, so daemon_signals_target(NULL) waits for us. */
static void on_signal(int signo)
{
	pthread_mutex_lock(&sig.mu);
	int n = ++sig.stops;
	struct daemon *d = sig.target;
	if (d) {
		if (n > 1)
			log_warn("%s: already stopping (draining the frontends, then the final "
				 "flush)", strsignal(signo));
		daemon_request_stop(d, strsignal(signo));
	}
	pthread_mutex_unlock(&sig.mu);
	if (d)
		return;
	if (n > 1) {
		log_error("%s again while not serving (opening or the final flush): exiting at "
			  "once; writes since the last durable point may be lost", strsignal(signo));
		_exit(128 + signo);
	}
	log_info("%s: stopping once the step under way ends", strsignal(signo));
}

static void *signal_main(void *arg)
{
	sigset_t set;
	stop_signal_set(&set);
	for (;;) {
		int signo;
		if (sigwait(&set, &signo) == 0)
			on_signal(signo);
	}
	return NULL;
}

int daemon_signals_start(void)
{
	sigset_t set;
	pthread_t t;
	stop_signal_set(&set);
	pthread_mutex_lock(&sig.mu);
	bool started = sig.started;
	sig.started = true;
	pthread_mutex_unlock(&sig.mu);
	if (started)
		return 0;
	int r = pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* An ignored signal is dropped even when waited for: take SIGINT and
	 * SIGTERM back.  An ignored SIGHUP (nohup) stays ignored. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	if (r == 0)
		r = pthread_create(&t, NULL, signal_main, NULL);
	if (r != 0) {
		log_error("daemon: cannot start the signal thread: %s", strerror(r));
		return -r;
	}
	pthread_detach(t);
	return 0;
}

bool daemon_stop_signalled(void)
{
	pthread_mutex_lock(&sig.mu);
	bool stop = sig.stops > 0;
	pthread_mutex_unlock(&sig.mu);
	return stop;
}

void daemon_signals_target(struct daemon *d)
{
	pthread_mutex_lock(&sig.mu);
	sig.target = d;
	bool pending = d && sig.stops > 0;
	pthread_mutex_unlock(&sig.mu);
	if (pending)
		daemon_request_stop(d, "a stop signal came while starting");
}
