/* lease.h -- the writer's lease: a visible sign that a writer is alive.
 *
 * A running writer keeps the object LEASE_OBJECT (under the store's
 * prefix) up to date: every period it rewrites it with a plain put,
 * holding its host name, pid, start time, writer epoch, a refresh counter
 * and the wall time of the refresh, as text lines "key value":
 *
 *   bucketfs-lease 1
 *   host NAME
 *   pid N
 *   start NS         wall clock, ns since the epoch
 *   epoch N          the writer epoch of its manifests
 *   refresh N        counts the refreshes (1 on the first write)
 *   time NS          wall clock of this refresh
 *   period MS
 *   state live|released
 *
 * On a clean stop the writer marks it released.  A new writer reads it
 * first (lease_check): a live lease makes `bucketfs run` refuse, naming
 * the other writer, unless takeover.  The lease is advisory: fencing (the
 * manifest epoch, lsm.h) is what keeps two writers from both writing; the
 * lease only lets a second writer see the first before fencing it.
 *
 * When is a lease stale?  Judged by wall time with a margin: stale when
 * it was not refreshed for LEASE_STALE_PERIODS periods by our clock, when
 * it is marked released, or, from the same host, when its pid no longer
 * exists (a writer killed with SIGKILL is seen at once on its own host).
 * Clock skew between hosts: a writer whose clock runs behind ours by more
 * than 3 periods looks stale (and would be fenced: safe, as fencing is the
 * guarantee, only not polite); one whose clock runs ahead looks alive
 * longer after it died (a refusal: --takeover).  The refresh counter is
 * kept so that tools (and a future stricter check) can see progress
 * between two reads without trusting either clock.
 *
 * A writer also reads the lease before each refresh: a lease of a newer
 * epoch means another writer took over (--takeover); the old one logs
 * that it was fenced, by whom, and stops refreshing.
 *
 * Threads: lease_start starts one refresh thread. */
#ifndef BUCKETFS_DAEMON_LEASE_H
#define BUCKETFS_DAEMON_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/objstore.h"

#define LEASE_OBJECT "lease"
#define LEASE_STALE_PERIODS 3

struct lease_info {
	char host[256];
	int64_t pid;
	uint64_t start_ns, epoch, refresh, time_ns, period_ms;
	bool released;
};

/* Read and parse the lease.  -ENOENT when there is none, -EBADMSG for an
 * object that does not parse. */
int lease_read(objstore *st, struct lease_info *out);
/* Parse a lease object's bytes (lease_read's parser, for tests). */
int lease_parse(const char *text, size_t len, struct lease_info *out);
/* Is the writer that wrote l alive, judged at wall time now_ns? */
bool lease_alive(const struct lease_info *l, uint64_t now_ns);
/* "host H, pid P, started 2026-12-04 02:41:22Z, epoch E" */
void lease_describe(const struct lease_info *l, char *buf, size_t size);

/* Before taking over as writer: 0 if no live writer holds the lease
 * (or takeover, logged), -EBUSY (logged, naming the other writer and how
 * to take over) if one does, or a store error (logged). */
int lease_check(objstore *st, bool takeover);

struct lease;
/* Write the lease for writer epoch `epoch` and refresh it every
 * period_ms.  fenced(arg, epoch, who) is called once, from the refresh
 * thread, when a lease of a newer writer epoch (epoch) is found.  0 or negative errno (logged). */
int lease_start(objstore *st, uint64_t epoch, uint64_t period_ms,
		void (*fenced)(void *arg, uint64_t epoch, const char *who), void *arg,
		struct lease **out);
/* The writer's own lease as last written. */
void lease_get(struct lease *l, struct lease_info *out);
/* Stop refreshing; mark the lease released when release and it is still
 * ours (not after a takeover).  NULL is a no-op. */
void lease_stop(struct lease *l, bool release);

#endif
