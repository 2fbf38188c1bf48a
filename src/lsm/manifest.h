/* manifest.h -- the root of the tree: which SSTs are live, and who writes.
 *
 * Object `manifest/<20-digit seq>`, a sealed unit (associated data:
 * "manifest" and the seq) holding:
 *   magic "BFSMAN01" | seq | writer epoch | durable LSM seq | created ns
 *   | files: id, level, size, meta offset, entries, min/max LSM seq, key range
 *   | checkpoints: name, pinned manifest seq, created ns
 *   | obsolete SSTs awaiting deletion: id, since ns
 *   | epoch starts: seq of every manifest that began a writer epoch
 * Manifests are only ever written with put_if_absent (manifest_store), which
 * is what fences a second writer.  The newest manifest is the state.
 *
 * A manifest that starts an epoch is never deleted: a fenced writer that
 * has not noticed yet will next try to write exactly the seq after its own
 * last manifest, which is always some later writer's epoch start, and its
 * put_if_absent must keep failing there however much else is pruned. */
#ifndef BUCKETFS_LSM_MANIFEST_H
#define BUCKETFS_LSM_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "crypt/aead.h"
#include "store/objstore.h"
#include "util/buf.h"

#define MANIFEST_PREFIX "manifest/"
#define MANIFEST_NAME_MAX 40

struct manifest_file {
	uint64_t id;
	uint32_t level;
	uint64_t size, meta_off, entries;
	uint64_t min_seq, max_seq;
	struct buf smallest, largest;
};

struct manifest_checkpoint {
	char *name;
	uint64_t manifest_seq;
	uint64_t created_ns;
};

struct manifest_obsolete {
	uint64_t id;
	uint64_t since_ns;
};

struct manifest {
	uint64_t seq;
	uint64_t epoch;
	uint64_t durable_seq;
	uint64_t created_ns;
	struct manifest_file *files;
	size_t nfiles;
	struct manifest_checkpoint *checkpoints;
	size_t ncheckpoints;
	struct manifest_obsolete *obsolete;
	size_t nobsolete;
	uint64_t *starts;
	size_t nstarts;
};

void manifest_name(uint64_t seq, char name[MANIFEST_NAME_MAX]);
int manifest_parse_name(const char *name, uint64_t *seq);

/* Appenders that copy their arguments. */
struct manifest_file *manifest_add_file(struct manifest *m);
void manifest_add_checkpoint(struct manifest *m, const char *name, uint64_t seq,
			     uint64_t created_ns);
void manifest_add_obsolete(struct manifest *m, uint64_t id, uint64_t since_ns);
void manifest_add_start(struct manifest *m, uint64_t seq);
void manifest_free(struct manifest *m);

int manifest_encode(const struct manifest *m, const uint8_t key[CRYPT_KEY_BYTES], struct buf *out);
/* -EBADMSG (logged) if the bytes do not authenticate or parse. */
int manifest_decode(const uint8_t key[CRYPT_KEY_BYTES], uint64_t seq, const void *data,
		    size_t len, struct manifest *m);

/* Newest manifest seq strictly after `after` (0 = any); -ENOENT if none. */
int manifest_find_latest(objstore *st, uint64_t after, uint64_t *seq);
/* Every manifest seq in the store, ascending (caller frees *seqs). */
int manifest_list(objstore *st, uint64_t **seqs, size_t *n);
int manifest_load(objstore *st, const uint8_t key[CRYPT_KEY_BYTES], uint64_t seq,
		  struct manifest *m);
/* put_if_absent: -EEXIST if a manifest with this seq exists. */
int manifest_store(objstore *st, const uint8_t key[CRYPT_KEY_BYTES], const struct manifest *m);

#endif
