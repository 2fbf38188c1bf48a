/* handshake.c -- the fixed newstyle negotiation, on the connection's
 * reader thread: the greeting, then options until one ends it
 * (NBD_OPT_GO, NBD_OPT_EXPORT_NAME: transmission; NBD_OPT_ABORT, EOF).
 *
 * Bounds: option data is read only up to NBD_OPTION_MAX (a longer one
 * closes the connection: no real option is that long), strings up to
 * NBD_NAME_MAX, and every reply is one buffer queued with net_conn_reply,
 * so a client that does not read stalls only itself. */
#include "nbd/nbd_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "net/net.h"
#include "util/coding.h"
#include "util/log.h"
#include "util/mem.h"

/* Read exactly len bytes: 0, or <0 (EOF in the middle is -EPIPE). */
static int read_all(struct nbd_conn *nc, void *buf, size_t len, bool *eof)
{
	ssize_t n = net_conn_read(nc->c, buf, len);
	if (eof)
		*eof = n == 0 && len > 0;
	if (n == (ssize_t)len)
		return 0;
	return n < 0 ? (int)n : -EPIPE;
}

static int opt_reply(struct nbd_conn *nc, uint32_t opt, uint32_t type, const void *a,
		     size_t alen, const void *b, size_t blen)
{
	uint8_t *p = xmalloc(20 + alen + blen);
	be64_put(p, NBD_OPT_REPLY_MAGIC);
	be32_put(p + 8, opt);
	be32_put(p + 12, type);
	be32_put(p + 16, (uint32_t)(alen + blen));
	if (alen)
		memcpy(p + 20, a, alen);
	if (blen)
		memcpy(p + 20 + alen, b, blen);
	return net_conn_reply(nc->c, p, 20 + alen + blen);
}

static int opt_ack(struct nbd_conn *nc, uint32_t opt)
{
	return opt_reply(nc, opt, NBD_REP_ACK, NULL, 0, NULL, 0);
}

/* An error reply with a message for the user (the spec allows one). */
static int opt_error(struct nbd_conn *nc, uint32_t opt, uint32_t type, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int opt_error(struct nbd_conn *nc, uint32_t opt, uint32_t type, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof msg)
		n = sizeof msg - 1;
	return opt_reply(nc, opt, type, msg, (size_t)n, NULL, 0);
}

/* ---- NBD_OPT_LIST ---- */

static int list_one(void *arg, const char *name)
{
	struct nbd_conn *nc = arg;
	uint8_t len[4];
	size_t n = strlen(name);
	be32_put(len, (uint32_t)n);
	return opt_reply(nc, NBD_OPT_LIST, NBD_REP_SERVER, len, 4, name, n);
}

static int opt_list(struct nbd_conn *nc, size_t len)
{
	if (len)
		return opt_error(nc, NBD_OPT_LIST, NBD_REP_ERR_INVALID, "NBD_OPT_LIST has no data");
	int r = nbd_export_list(nc->srv, list_one, nc);
	if (r < 0)
		return opt_error(nc, NBD_OPT_LIST, NBD_REP_ERR_PLATFORM, "listing %s: %s",
				 nc->srv->export_dir, strerror(-r));
	return opt_ack(nc, NBD_OPT_LIST);
}

/* ---- NBD_OPT_INFO / NBD_OPT_GO ---- */

static int info_export(struct nbd_conn *nc, uint32_t opt, uint64_t size)
{
	uint8_t p[12];
	be16_put(p, NBD_INFO_EXPORT);
	be64_put(p + 2, size);
	be16_put(p + 10, nbd_export_flags(nc->srv));
	return opt_reply(nc, opt, NBD_REP_INFO, p, sizeof p, NULL, 0);
}

static int info_block_size(struct nbd_conn *nc, uint32_t opt)
{
	uint8_t p[14];
	be16_put(p, NBD_INFO_BLOCK_SIZE);
	be32_put(p + 2, NBD_BLOCK_MIN);
	be32_put(p + 6, NBD_BLOCK_PREFERRED);
	be32_put(p + 10, NBD_MAX_PAYLOAD);
	return opt_reply(nc, opt, NBD_REP_INFO, p, sizeof p, NULL, 0);
}

static int info_string(struct nbd_conn *nc, uint32_t opt, uint16_t type, const char *s)
{
	uint8_t t[2];
	be16_put(t, type);
	return opt_reply(nc, opt, NBD_REP_INFO, t, 2, s, strlen(s));
}

/* The requested extras: NAME and DESCRIPTION (EXPORT and BLOCK_SIZE go
 * always; qemu's server sends the block size unasked as well). */
static int info_extras(struct nbd_conn *nc, uint32_t opt, const struct nbd_info_request *ir,
		       const char *name)
{
	bool want_name = false, want_desc = false;
	for (uint16_t i = 0; i < ir->ninfo; i++) {
		want_name |= ir->info[i] == NBD_INFO_NAME;
		want_desc |= ir->info[i] == NBD_INFO_DESCRIPTION;
	}
	int r = 0;
	if (want_name)
		r = info_string(nc, opt, NBD_INFO_NAME, name);
	if (r == 0 && want_desc) {
		char desc[600];
		snprintf(desc, sizeof desc, "bucketfs file %s/%s", nc->srv->export_dir, name);
		r = info_string(nc, opt, NBD_INFO_DESCRIPTION, desc);
	}
	return r;
}

static int opt_info_go(struct nbd_conn *nc, uint32_t opt, const uint8_t *data, size_t len)
{
	struct nbd_info_request ir;
	char name[256];
	if (nbd_parse_info_request(data, len, &ir) < 0)
		return opt_error(nc, opt, NBD_REP_ERR_INVALID, "malformed option data");
	if (!nbd_export_name_ok(ir.name, ir.name_len))
		return opt_error(nc, opt, NBD_REP_ERR_UNKNOWN,
				 "export names are file names in %s (the default export is "
				 "not supported)", nc->srv->export_dir);
	memcpy(name, ir.name, ir.name_len);
	name[ir.name_len] = '\0';
	uint64_t ino, size;
	int r = opt == NBD_OPT_GO ? nbd_export_attach(nc->srv, name, &nc->ex)
				  : nbd_export_find(nc->srv, name, &ino, &size);
	if (r == -ENOENT)
		return opt_error(nc, opt, NBD_REP_ERR_UNKNOWN, "no export '%s' (a regular file in %s)",
				 name, nc->srv->export_dir);
	if (r < 0)
		return opt_error(nc, opt, NBD_REP_ERR_PLATFORM, "export '%s': %s", name,
				 strerror(-r));
	if (opt == NBD_OPT_GO) {
		nc->attached = true;
		size = nc->ex.size;
	}
	r = info_export(nc, opt, size);
	if (r == 0)
		r = info_block_size(nc, opt);
	if (r == 0)
		r = info_extras(nc, opt, &ir, name);
	if (r == 0)
		r = opt_ack(nc, opt);
	if (r < 0 || opt != NBD_OPT_GO)
		return r;
	if (nc->meta && strcmp(nc->meta_export, name))
		nc->meta = false;   /* contexts were chosen for another export */
	return 1;
}

/* ---- NBD_OPT_EXPORT_NAME: the old end of negotiation ---- */

static int opt_export_name(struct nbd_conn *nc, const uint8_t *data, size_t len)
{
	char name[256];
	if (!nbd_export_name_ok(data, (uint32_t)len)) {
		log_info("nbd: %s: NBD_OPT_EXPORT_NAME of an invalid name: closing",
			 net_conn_name(nc->c));
		return -ENOENT;
	}
	memcpy(name, data, len);
	name[len] = '\0';
	int r = nbd_export_attach(nc->srv, name, &nc->ex);
	if (r < 0) {
		/* No error reply exists for this option: the spec says close. */
		log_info("nbd: %s: export '%s': %s: closing", net_conn_name(nc->c), name,
			 strerror(-r));
		return r;
	}
	nc->attached = true;
	nc->meta = false;
	size_t n = nc->no_zeroes ? 10 : 134;
	uint8_t *p = xcalloc(1, n);
	be64_put(p, nc->ex.size);
	be16_put(p + 8, nbd_export_flags(nc->srv));
	r = net_conn_reply(nc->c, p, n);
	return r < 0 ? r : 1;
}

/* ---- meta contexts ---- */

static int meta_reply(struct nbd_conn *nc, uint32_t opt)
{
	static const char ctx[] = NBD_META_BASE_ALLOCATION;
	uint8_t id[4];
	be32_put(id, NBD_META_ID_BASE_ALLOCATION);
	return opt_reply(nc, opt, NBD_REP_META_CONTEXT, id, 4, ctx, sizeof ctx - 1);
}

static int opt_meta(struct nbd_conn *nc, uint32_t opt, const uint8_t *data, size_t len)
{
	struct nbd_meta_request mr;
	char name[256];
	bool list = opt == NBD_OPT_LIST_META_CONTEXT;
	if (!list && !nc->structured)
		return opt_error(nc, opt, NBD_REP_ERR_INVALID,
				 "NBD_OPT_STRUCTURED_REPLY must come first");
	if (nbd_parse_meta_request(data, len, &mr) < 0)
		return opt_error(nc, opt, NBD_REP_ERR_INVALID, "malformed option data");
	if (!nbd_export_name_ok(mr.name, mr.name_len))
		return opt_error(nc, opt, NBD_REP_ERR_UNKNOWN, "no such export");
	memcpy(name, mr.name, mr.name_len);
	name[mr.name_len] = '\0';
	uint64_t ino, size;
	int r = nbd_export_find(nc->srv, name, &ino, &size);
	if (r < 0)
		return opt_error(nc, opt, NBD_REP_ERR_UNKNOWN, "no export '%s'", name);
	bool chosen = list && mr.nquery == 0;
	for (uint32_t i = 0; i < mr.nquery && !chosen; i++)
		chosen = nbd_meta_query_matches(mr.query[i].p, mr.query[i].len, list);
	if (!list) {
		nc->meta = chosen;
		snprintf(nc->meta_export, sizeof nc->meta_export, "%s", name);
	}
	r = chosen ? meta_reply(nc, opt) : 0;
	return r < 0 ? r : opt_ack(nc, opt);
}

/* ---- the loop ---- */

static int greet(struct nbd_conn *nc)
{
	uint8_t *p = xmalloc(18);
	be64_put(p, NBD_MAGIC);
	be64_put(p + 8, NBD_IHAVEOPT);
	be16_put(p + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	int r = net_conn_reply(nc->c, p, 18);
	uint8_t cf[4];
	bool eof = false;
	if (r == 0)
		r = read_all(nc, cf, 4, &eof);
	if (r < 0)
		return eof ? 0 : r;
	uint32_t flags = be32_get(cf);
	if (flags & ~(uint32_t)(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)) {
		log_info("nbd: %s: unknown client flags 0x%x: closing", net_conn_name(nc->c),
			 flags);
		return -EINVAL;
	}
	nc->no_zeroes = flags & NBD_FLAG_C_NO_ZEROES;
	return 1;
}

/* One option: 1 to go on, 2 when attached (transmission follows), 0 to
 * end (ABORT), <0 to close. */
static int option(struct nbd_conn *nc, uint32_t opt, const uint8_t *data, size_t len)
{
	int r;
	switch (opt) {
	case NBD_OPT_EXPORT_NAME:
		r = opt_export_name(nc, data, len);
		return r == 1 ? 2 : r;
	case NBD_OPT_ABORT:
		opt_ack(nc, opt);
		return 0;
	case NBD_OPT_LIST:
		r = opt_list(nc, len);
		break;
	case NBD_OPT_INFO:
	case NBD_OPT_GO:
		r = opt_info_go(nc, opt, data, len);
		if (r == 1)
			return 2;   /* attached (GO) */
		break;
	case NBD_OPT_STRUCTURED_REPLY:
		if (len) {
			r = opt_error(nc, opt, NBD_REP_ERR_INVALID, "no data expected");
		} else {
			nc->structured = true;
			r = opt_ack(nc, opt);
		}
		break;
	case NBD_OPT_LIST_META_CONTEXT:
	case NBD_OPT_SET_META_CONTEXT:
		r = opt_meta(nc, opt, data, len);
		break;
	default:
		r = opt_error(nc, opt, NBD_REP_ERR_UNSUP, "option %" PRIu32 " is not supported", opt);
		break;
	}
	return r < 0 ? r : 1;
}

int nbd_handshake(struct nbd_conn *nc)
{
	int r = greet(nc);
	while (r == 1) {
		uint8_t h[16];
		bool eof = false;
		if ((r = read_all(nc, h, 16, &eof)) < 0)
			return eof ? 0 : r;
		uint32_t opt = be32_get(h + 8), len = be32_get(h + 12);
		if (be64_get(h) != NBD_IHAVEOPT) {
			log_info("nbd: %s: bad option magic: closing", net_conn_name(nc->c));
			return -EINVAL;
		}
		if (len > NBD_OPTION_MAX) {
			log_info("nbd: %s: option %" PRIu32 " of %" PRIu32 " bytes (at most %u): "
				 "closing", net_conn_name(nc->c), opt, len, NBD_OPTION_MAX);
			return -E2BIG;
		}
		uint8_t *data = len ? xmalloc(len) : NULL;
		r = read_all(nc, data, len, NULL);
		if (r == 0)
			r = option(nc, opt, data, len);
		free(data);
		if (r == 2)
			return 1;
	}
	return r;
}
