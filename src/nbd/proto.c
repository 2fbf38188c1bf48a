/* proto.c -- the NBD wire formats we decode: request headers, the data
 * of NBD_OPT_INFO/GO and of the meta-context options, and the checks a
 * request must pass before it runs.  Pure functions over bytes already
 * read (no I/O, no allocation), so fuzz/fuzz-nbd.c drives them directly;
 * every length is checked against what is left before it is used. */
#include "nbd/nbd_int.h"

#include <errno.h>
#include <string.h>

#include "util/coding.h"

int nbd_decode_request(const uint8_t *p, struct nbd_request *rq)
{
	if (be32_get(p) != NBD_REQUEST_MAGIC)
		return -EINVAL;
	rq->flags = be16_get(p + 4);
	rq->type = be16_get(p + 6);
	rq->handle = be64_get(p + 8);
	rq->offset = be64_get(p + 16);
	rq->length = be32_get(p + 24);
	return 0;
}

/* A protocol string of len bytes at p: no NUL, at most NBD_NAME_MAX. */
static bool string_ok(const uint8_t *p, uint32_t len)
{
	return len <= NBD_NAME_MAX && !memchr(p, '\0', len);
}

int nbd_parse_info_request(const uint8_t *data, size_t len, struct nbd_info_request *out)
{
	memset(out, 0, sizeof *out);
	if (len < 4)
		return -EINVAL;
	uint32_t n = be32_get(data);
	if (n > len - 4 || len - 4 - n < 2)
		return -EINVAL;
	out->name = data + 4;
	out->name_len = n;
	if (!string_ok(out->name, n))
		return -EINVAL;
	const uint8_t *p = data + 4 + n;
	uint16_t count = be16_get(p);
	p += 2;
	if ((size_t)count * 2 != len - 4 - n - 2)
		return -EINVAL;
	out->ninfo = count < NBD_INFO_REQUESTS_MAX ? count : NBD_INFO_REQUESTS_MAX;
	for (uint16_t i = 0; i < out->ninfo; i++)
		out->info[i] = be16_get(p + 2 * i);
	return 0;
}

int nbd_parse_meta_request(const uint8_t *data, size_t len, struct nbd_meta_request *out)
{
	memset(out, 0, sizeof *out);
	if (len < 4)
		return -EINVAL;
	uint32_t n = be32_get(data);
	if (n > len - 4 || len - 4 - n < 4)
		return -EINVAL;
	out->name = data + 4;
	out->name_len = n;
	if (!string_ok(out->name, n))
		return -EINVAL;
	size_t at = 4 + (size_t)n;
	uint32_t count = be32_get(data + at);
	at += 4;
	if (count > NBD_META_QUERIES_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		if (len - at < 4)
			return -EINVAL;
		uint32_t q = be32_get(data + at);
		at += 4;
		if (q > len - at || !string_ok(data + at, q))
			return -EINVAL;
		out->query[i].p = data + at;
		out->query[i].len = q;
		at += q;
	}
	if (at != len)
		return -EINVAL;
	out->nquery = count;
	return 0;
}

bool nbd_meta_query_matches(const uint8_t *q, uint32_t len, bool list)
{
	static const char base[] = NBD_META_BASE_ALLOCATION;
	if (len == sizeof base - 1 && !memcmp(q, base, len))
		return true;
	return list && len == 5 && !memcmp(q, "base:", 5);
}

bool nbd_export_name_ok(const uint8_t *name, uint32_t len)
{
	if (len == 0 || len > 255 || memchr(name, '/', len) || memchr(name, '\0', len))
		return false;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	return true;
}

static bool in_bounds(const struct nbd_request *rq, uint64_t size)
{
	return rq->offset <= size && rq->length <= size - rq->offset;
}

uint32_t nbd_check_request(const struct nbd_request *rq, const struct nbd_export_view *ev,
			   bool *close_conn)
{
	/* FUA is valid on every command since we advertise SEND_FUA: the
	 * spec says a server MUST accept it anywhere (clients are known to
	 * set it on reads); command.c ignores it where nothing is written. */
	unsigned allowed = NBD_CMD_FLAG_FUA;
	bool writes = false;
	*close_conn = false;
	switch (rq->type) {
	case NBD_CMD_READ:
		break;
	case NBD_CMD_WRITE:
	case NBD_CMD_TRIM:
		writes = true;
		break;
	case NBD_CMD_WRITE_ZEROES:
		allowed |= NBD_CMD_FLAG_NO_HOLE;
		writes = true;
		break;
	case NBD_CMD_FLUSH:
	case NBD_CMD_DISC:
		return 0;
	case NBD_CMD_BLOCK_STATUS:
		allowed |= NBD_CMD_FLAG_REQ_ONE;
		if (!ev->structured || !ev->meta)
			return NBD_EINVAL;
		break;
	default:
		return NBD_EINVAL;
	}
	/* Payloads we will not hold: the connection closes (the spec lets a
	 * server do so rather than read 4 GiB it will throw away). */
	if ((rq->type == NBD_CMD_READ || rq->type == NBD_CMD_WRITE) &&
	    rq->length > NBD_MAX_PAYLOAD) {
		*close_conn = true;
		return NBD_EINVAL;
	}
	if (rq->flags & ~allowed)
		return NBD_EINVAL;
	if (writes && ev->read_only)
		return NBD_EPERM;
	if (rq->type == NBD_CMD_BLOCK_STATUS && rq->length == 0)
		return NBD_EINVAL;
	if (!in_bounds(rq, ev->size))
		return rq->type == NBD_CMD_WRITE || rq->type == NBD_CMD_WRITE_ZEROES ? NBD_ENOSPC
											 : NBD_EINVAL;
	return 0;
}

uint32_t nbd_errno(int err)
{
	switch (err) {
	case 0: return 0;
	case EPERM: case EACCES: case EROFS: return NBD_EPERM;
	case ENOMEM: return NBD_ENOMEM;
	case EINVAL: return NBD_EINVAL;
	case ENOSPC: case EDQUOT: case EFBIG: return NBD_ENOSPC;
	case EOVERFLOW: return NBD_EOVERFLOW;
	case ENOTSUP: return NBD_ENOTSUP;
	case ESHUTDOWN: return NBD_ESHUTDOWN;
	default: return NBD_EIO;
	}
}
