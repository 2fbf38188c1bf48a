/* fuzz-nbd.c -- the NBD server's decoders (src/nbd/proto.c): the data of
 * NBD_OPT_INFO/GO and of the meta-context options, export names, and the
 * request header with the checks a request passes before it runs.  The
 * first byte picks the decoder, the rest is its input.  Besides not
 * crashing: whatever a decoder returns points inside the input, and a
 * request that passes the checks lies inside the export and within the
 * payload bound. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "nbd/nbd_int.h"
#include "util/coding.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
	return p >= data && n <= size && (size_t)(p - data) <= size - n;
}

static void fuzz_info(const uint8_t *d, size_t n)
{
	struct nbd_info_request ir;
	if (nbd_parse_info_request(d, n, &ir) < 0)
		return;
	assert(inside(ir.name, ir.name_len, d, n));
	assert(ir.name_len <= NBD_NAME_MAX && !memchr(ir.name, 0, ir.name_len));
	assert(ir.ninfo <= NBD_INFO_REQUESTS_MAX);
	assert(4 + ir.name_len + 2 + 2 * (size_t)be16_get(d + 4 + ir.name_len) == n);
	(void)nbd_export_name_ok(ir.name, ir.name_len);
}

static void fuzz_meta(const uint8_t *d, size_t n)
{
	struct nbd_meta_request mr;
	if (nbd_parse_meta_request(d, n, &mr) < 0)
		return;
	assert(inside(mr.name, mr.name_len, d, n));
	assert(mr.nquery <= NBD_META_QUERIES_MAX);
	for (uint32_t i = 0; i < mr.nquery; i++) {
		assert(inside(mr.query[i].p, mr.query[i].len, d, n));
		(void)nbd_meta_query_matches(mr.query[i].p, mr.query[i].len, i & 1);
	}
}

static void fuzz_request(const uint8_t *d, size_t n)
{
	struct nbd_request rq;
	if (n < NBD_REQUEST_SIZE + 9)
		return;
	if (nbd_decode_request(d, &rq) < 0)
		return;
	struct nbd_export_view ev = {
		.size = be64_get(d + NBD_REQUEST_SIZE),
		.read_only = d[NBD_REQUEST_SIZE + 8] & 1,
		.structured = d[NBD_REQUEST_SIZE + 8] & 2,
		.meta = d[NBD_REQUEST_SIZE + 8] & 4,
	};
	bool close_conn;
	uint32_t err = nbd_check_request(&rq, &ev, &close_conn);
	if (close_conn)
		assert(err && rq.length > NBD_MAX_PAYLOAD);
	if (err == 0 && rq.type != NBD_CMD_FLUSH && rq.type != NBD_CMD_DISC) {
		assert(rq.offset <= ev.size && rq.length <= ev.size - rq.offset);
		if (rq.type == NBD_CMD_READ || rq.type == NBD_CMD_WRITE)
			assert(rq.length <= NBD_MAX_PAYLOAD);
		if (rq.type != NBD_CMD_READ && rq.type != NBD_CMD_BLOCK_STATUS)
			assert(!ev.read_only);
	}
	(void)nbd_errno((int)rq.length & 0xff);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *d = data + 1;
	size_t n = size - 1;
	switch (data[0] % 4) {
	case 0: fuzz_info(d, n); break;
	case 1: fuzz_meta(d, n); break;
	case 2: fuzz_request(d, n); break;
	default: (void)nbd_export_name_ok(d, (uint32_t)(n > 300 ? 300 : n)); break;
	}
	return 0;
}
