/* upload.h -- background upload of sealed segments, with backpressure.
 *
 * A closed segment handed to the uploader is sealed by an upload thread
 * once its last reserved frame is filled (segment.h), and stays in RAM,
 * readable through upload_read_frame(), until a put of it has succeeded;
 * a failed seal or put is retried with backoff for as long as it takes
 * (data is never dropped).  upload_submit() never blocks (it is called
 * under the data plane's commit lock); writers call upload_wait_room()
 * afterwards, outside their locks, and so slow down to the store's pace
 * instead of filling RAM.
 *
 * Threads: upload_new() starts `threads` upload threads. */
#ifndef BUCKETFS_DATA_UPLOAD_H
#define BUCKETFS_DATA_UPLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "data/segment.h"
#include "store/objstore.h"

struct uploader;

/* key: the data key, to seal segments' directories. */
struct uploader *upload_new(objstore *st, const uint8_t key[CRYPT_KEY_BYTES], unsigned threads,
			    unsigned max_in_flight);
/* Stops the threads; segments not yet uploaded are dropped (a crash would
 * drop them too).  Call upload_drain() first for a clean stop. */
void upload_free(struct uploader *u);
/* Takes ownership of the closed segment; never blocks. */
void upload_submit(struct uploader *u, struct segment *s);
/* Block while more than max_in_flight segments await upload.  Call it
 * holding no lock. */
void upload_wait_room(struct uploader *u);
/* Copy a frame of a segment still held; -ENOENT if not held. */
int upload_read_frame(struct uploader *u, const struct frame_loc *loc, struct buf *out);
/* Is the segment still waiting for its upload? */
bool upload_holds(struct uploader *u, uint64_t epoch, uint64_t counter);
/* Wait until every segment submitted before the call is in the store.
 * -ETIMEDOUT after timeout_ms (uploads go on). */
int upload_drain(struct uploader *u, uint64_t timeout_ms);

struct upload_stats {
	uint64_t segments, bytes, retries, waiting;
	uint64_t waiting_bytes;    /* bytes of the segments not yet uploaded */
};
void upload_stats(struct uploader *u, struct upload_stats *st);

#endif
