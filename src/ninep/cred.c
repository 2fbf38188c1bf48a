/* cred.c -- the credentials of 9P users: uid -> primary gid and
 * supplementary groups from the system's user database (getpwuid_r,
 * getgrouplist), cached per server for NINEP_USER_TTL seconds so a busy
 * client does not hit NSS on every Tattach, and so group changes are
 * seen soon.  A uid the database does not know (a guest's user) gets its
 * uid as gid (the usual user-private group) and no other groups.
 *
 * Entries are shared by the fids attached as that user (refs under
 * users_mu); a stale entry leaves the cache at the next lookup and is
 * freed when its last fid goes.  A fid keeps its entry for its life (a
 * mount's attach fid lives as long as the mount), so ninep_cred swaps a
 * stale one for the cache's current one, per request. */
#include "ninep/ninep_int.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/mem.h"

#define NINEP_USER_TTL 60
#define NINEP_USERS_MAX 256
#define NINEP_GROUPS_MAX 1024

static time_t now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void user_free(struct ninep_user *u)
{
	free(u->groups);
	free(u);
}

static struct ninep_user *user_load(uint32_t uid)
{
	struct ninep_user *u = xcalloc(1, sizeof *u);
	u->uid = uid;
	u->gid = uid;
	u->loaded = now_s();
	long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t bsz = sz > 0 ? (size_t)sz : 16384;
	char *b = xmalloc(bsz);
	struct passwd pw, *res = NULL;
	if (getpwuid_r((uid_t)uid, &pw, b, bsz, &res) == 0 && res) {
		u->gid = (uint32_t)pw.pw_gid;
		int n = 64;
		gid_t *g = xmalloc((size_t)n * sizeof *g);
		if (getgrouplist(pw.pw_name, pw.pw_gid, g, &n) < 0 && n > 0) {
			if (n > NINEP_GROUPS_MAX)
				n = NINEP_GROUPS_MAX;
			g = xrealloc(g, (size_t)n * sizeof *g);
			/* Past the cap glibc fills the first n and fails: the
			 * user keeps those, not none at all. */
			int cap = n;
			if (getgrouplist(pw.pw_name, pw.pw_gid, g, &n) < 0)
				n = n > cap ? cap : 0;
		}
		if (n > 0) {
			u->groups = xmalloc((size_t)n * sizeof *u->groups);
			for (int i = 0; i < n; i++)
				u->groups[i] = (uint32_t)g[i];
			u->ngroups = (uint32_t)n;
		}
		free(g);
	}
	free(b);
	return u;
}

struct ninep_user *ninep_user_get(struct ninep_server *s, uint32_t uid)
{
	time_t now = now_s();
	pthread_mutex_lock(&s->users_mu);
	struct ninep_user **pp = &s->users;
	while (*pp) {
		struct ninep_user *u = *pp;
		if (now - u->loaded > NINEP_USER_TTL) {
			/* Stale: out of the cache; its fids keep it alive. */
			*pp = u->next;
			s->nusers--;
			if (--u->refs == 0)
				user_free(u);
			continue;
		}
		if (u->uid == uid) {
			u->refs++;
			pthread_mutex_unlock(&s->users_mu);
			return u;
		}
		pp = &u->next;
	}
	pthread_mutex_unlock(&s->users_mu);

	struct ninep_user *nu = user_load(uid);   /* NSS outside the lock */
	nu->refs = 1;                             /* the caller's */
	pthread_mutex_lock(&s->users_mu);
	if (s->nusers < NINEP_USERS_MAX) {
		nu->refs++;                       /* the cache's */
		nu->next = s->users;
		s->users = nu;
		s->nusers++;
	}
	pthread_mutex_unlock(&s->users_mu);
	return nu;
}

void ninep_user_put(struct ninep_server *s, struct ninep_user *u)
{
	if (!u)
		return;
	pthread_mutex_lock(&s->users_mu);
	bool last = --u->refs == 0;
	pthread_mutex_unlock(&s->users_mu);
	if (last)
		user_free(u);
}

void ninep_users_free(struct ninep_server *s)
{
	pthread_mutex_lock(&s->users_mu);
	while (s->users) {
		struct ninep_user *u = s->users;
		s->users = u->next;
		if (--u->refs == 0)
			user_free(u);
	}
	s->nusers = 0;
	pthread_mutex_unlock(&s->users_mu);
}

int ninep_uid_by_name(const char *name, uint32_t *uid)
{
	long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t bsz = sz > 0 ? (size_t)sz : 16384;
	char *b = xmalloc(bsz);
	struct passwd pw, *res = NULL;
	int r = -ENOENT;
	if (*name && getpwnam_r(name, &pw, b, bsz, &res) == 0 && res) {
		*uid = (uint32_t)pw.pw_uid;
		r = 0;
	}
	free(b);
	return r;
}

struct fs_cred ninep_cred(struct ninep_req *rq, const struct ninep_fid *f)
{
	struct ninep_server *s = rq->c->srv;
	const struct ninep_user *u = f->user;
	/* u never changes (handlers use its groups without a lock); a stale
	 * one is replaced for this request only. */
	if (now_s() - u->loaded > NINEP_USER_TTL) {
		const struct ninep_user *fresh = NULL;
		for (unsigned i = 0; i < rq->nusers && !fresh; i++)
			if (rq->users[i]->uid == u->uid)
				fresh = rq->users[i];
		if (!fresh && rq->nusers < sizeof rq->users / sizeof rq->users[0]) {
			struct ninep_user *nu = ninep_user_get(s, u->uid);
			rq->users[rq->nusers++] = nu;
			fresh = nu;
		}
		if (fresh)
			u = fresh;
	}
	struct fs_cred cr = { u->uid, u->gid, u->ngroups, u->groups, s->origin };
	return cr;
}

void ninep_req_users_put(struct ninep_req *rq)
{
	for (unsigned i = 0; i < rq->nusers; i++)
		ninep_user_put(rq->c->srv, rq->users[i]);
	rq->nusers = 0;
}
