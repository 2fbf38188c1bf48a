/* test-store-race.c -- the object store under concurrency: put_if_absent
 * has exactly one winner among racing threads and racing processes (the
 * fencing primitive), and readers during overwrites see whole objects,
 * never a mix or a prefix.
 *
 * The thread races and the readers run against memory:// and file://, and
 * also against BUCKETFS_TEST_STORE_URL when that is set (say an s3://
 * bucket), below a key prefix of their own that is removed afterwards.
 *
 * ROUNDS (env STORE_RACE_ROUNDS, default 50) sets how many races run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "store/objstore.h"
#include "testutil.h"

#define RACE_THREADS 16
#define RACE_PROCS 8
#define READERS 4
#define OVERWRITES 300

static char *dir;
static char *file_url;
static const char *env_url;  /* BUCKETFS_TEST_STORE_URL, NULL if unset */
static char env_ns[64];      /* this run's key prefix in that store */
static long rounds;

/* What contender `id` writes: its id in every byte, a length of its own. */
static size_t contender_len(unsigned id)
{
	return 100 + id * 37;
}

static uint8_t *contender_data(unsigned id)
{
	size_t n = contender_len(id);
	uint8_t *p = xmalloc(n);

	memset(p, (int)id + 1, n);
	return p;
}

static void assert_winner_stored(objstore *st, const char *key, unsigned winner)
{
	uint8_t *want = contender_data(winner);
	void *got = NULL;
	size_t len;

	assert_int_equal(objstore_get(st, key, 0, OBJSTORE_GET_TO_END, &got, &len), 0);
	assert_int_equal(len, contender_len(winner));
	assert_memory_equal(got, want, len);
	free(got);
	free(want);
}

/* ---- threads ---- */

struct contender {
	objstore *st;
	pthread_barrier_t *start;
	const char *key;
	unsigned id;
	int rc;
};

static void *contend(void *arg)
{
	struct contender *c = arg;
	uint8_t *data = contender_data(c->id);

	pthread_barrier_wait(c->start);
	c->rc = objstore_put_if_absent(c->st, c->key, data, contender_len(c->id));
	free(data);
	return NULL;
}

/* One race; returns the winner's id. */
static unsigned thread_race(objstore *st, const char *key)
{
	struct contender c[RACE_THREADS];
	pthread_t t[RACE_THREADS];
	pthread_barrier_t start;
	unsigned i, winners = 0, winner = 0;

	pthread_barrier_init(&start, NULL, RACE_THREADS);
	for (i = 0; i < RACE_THREADS; i++) {
		c[i] = (struct contender){ st, &start, key, i, 1 };
		assert_int_equal(pthread_create(&t[i], NULL, contend, &c[i]), 0);
	}
	for (i = 0; i < RACE_THREADS; i++) {
		pthread_join(t[i], NULL);
		if (c[i].rc == 0) {
			winners++;
			winner = i;
		} else {
			assert_int_equal(c[i].rc, -EEXIST);
		}
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(winners, 1);
	return winner;
}

static void threads_race(const char *url, const char *ns)
{
	objstore *st;
	char key[128];
	long r;

	assert_int_equal(objstore_open(url, &st), 0);
	for (r = 0; r < rounds; r++) {
		snprintf(key, sizeof key, "%smanifest/%020ld", ns, r);
		assert_winner_stored(st, key, thread_race(st, key));
	}
	objstore_close(st);
}

static void test_put_if_absent_one_winner_among_threads_memory(void **state)
{
	(void)state;
	objstore_memory_reset("race");
	threads_race("memory://race", "");
}

static void test_put_if_absent_one_winner_among_threads_file(void **state)
{
	(void)state;
	threads_race(file_url, "");
}

static void test_put_if_absent_one_winner_among_threads_env(void **state)
{
	(void)state;
	threads_race(env_url, env_ns);
}

/* ---- processes ---- */

/* A child: open its own store, wait for the start signal (EOF on the
 * pipe), race.  Exit 0 = won, 1 = lost, 2 = error. */
static void child_contend(int start_fd, const char *key, unsigned id)
{
	uint8_t *data = contender_data(id);
	objstore *st;
	char c;
	int rc;

	if (objstore_open(file_url, &st))
		_exit(2);
	while (read(start_fd, &c, 1) < 0 && errno == EINTR)
		;
	rc = objstore_put_if_absent(st, key, data, contender_len(id));
	_exit(rc == 0 ? 0 : rc == -EEXIST ? 1 : 2);
}

static unsigned process_race(const char *key)
{
	pid_t pids[RACE_PROCS];
	unsigned i, winners = 0, winner = 0;
	int fds[2], status;

	assert_int_equal(pipe(fds), 0);
	fflush(NULL);
	for (i = 0; i < RACE_PROCS; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(fds[1]);
			child_contend(fds[0], key, i);
		}
	}
	close(fds[0]);
	close(fds[1]); /* go */
	for (i = 0; i < RACE_PROCS; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		assert_true(WEXITSTATUS(status) <= 1);
		if (WEXITSTATUS(status) == 0) {
			winners++;
			winner = i;
		}
	}
	assert_int_equal(winners, 1);
	return winner;
}

static void test_put_if_absent_one_winner_among_processes_file(void **state)
{
	objstore *st;
	char key[64];
	long r;

	(void)state;
	assert_int_equal(objstore_open(file_url, &st), 0);
	for (r = 0; r < rounds; r++) {
		snprintf(key, sizeof key, "proc/%ld/manifest", r);
		assert_winner_stored(st, key, process_race(key));
	}
	objstore_close(st);
}

/* ---- readers during overwrites ---- */

/* Generation g of the object: g in the first 8 bytes, then a fill byte
 * and a length that both depend on g. */
static size_t gen_len(uint64_t g)
{
	return 8 + (size_t)(g * 7919 % 40000);
}

static uint8_t gen_fill(uint64_t g)
{
	return (uint8_t)(g * 31 + 7);
}

static uint8_t *gen_data(uint64_t g)
{
	size_t n = gen_len(g);
	uint8_t *p = xmalloc(n);

	memset(p, gen_fill(g), n);
	memcpy(p, &g, 8);
	return p;
}

struct overwrite_run {
	objstore *st;
	const char *key;
	atomic_bool done;
	atomic_long reads;
	atomic_long bad;
};

/* Is (p, n) exactly some generation's object? */
static bool whole_generation(const uint8_t *p, size_t n)
{
	uint64_t g;
	size_t i;

	if (n < 8)
		return false;
	memcpy(&g, p, 8);
	if (g > OVERWRITES || n != gen_len(g))
		return false;
	for (i = 8; i < n; i++)
		if (p[i] != gen_fill(g))
			return false;
	return true;
}

static void *reader(void *arg)
{
	struct overwrite_run *run = arg;
	void *p;
	size_t n;

	while (!atomic_load(&run->done)) {
		if (objstore_get(run->st, run->key, 0, OBJSTORE_GET_TO_END, &p, &n)) {
			atomic_fetch_add(&run->bad, 1);
			continue;
		}
		if (!whole_generation(p, n))
			atomic_fetch_add(&run->bad, 1);
		atomic_fetch_add(&run->reads, 1);
		free(p);
	}
	return NULL;
}

static void overwrite_under_readers(const char *url, const char *ns)
{
	struct overwrite_run run = { 0 };
	uint8_t *first = gen_data(0);
	char *key = xasprintf("%shot/object", ns);
	pthread_t t[READERS];
	uint64_t g;
	unsigned i;

	run.key = key;
	assert_int_equal(objstore_open(url, &run.st), 0);
	assert_int_equal(objstore_put(run.st, key, first, gen_len(0)), 0);
	free(first);
	for (i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader, &run), 0);
	/* On a loaded machine the readers may not have run yet, and memory://
	 * does 300 overwrites in no time: let them start first. */
	while (atomic_load(&run.reads) == 0 && atomic_load(&run.bad) == 0)
		usleep(100);
	for (g = 1; g <= OVERWRITES; g++) {
		uint8_t *data = gen_data(g);
		assert_int_equal(objstore_put(run.st, key, data, gen_len(g)), 0);
		free(data);
	}
	atomic_store(&run.done, true);
	for (i = 0; i < READERS; i++)
		pthread_join(t[i], NULL);
	print_message("# %ld reads during %d overwrites\n", atomic_load(&run.reads), OVERWRITES);
	assert_int_equal(atomic_load(&run.bad), 0);
	assert_true(atomic_load(&run.reads) > 0);
	objstore_close(run.st);
	free(key);
}

static void test_readers_see_whole_objects_during_overwrites_file(void **state)
{
	(void)state;
	overwrite_under_readers(file_url, "");
}

static void test_readers_see_whole_objects_during_overwrites_memory(void **state)
{
	(void)state;
	objstore_memory_reset("overwrite");
	overwrite_under_readers("memory://overwrite", "");
}

static void test_readers_see_whole_objects_during_overwrites_env(void **state)
{
	(void)state;
	overwrite_under_readers(env_url, env_ns);
}

struct key_list {
	char **keys;
	size_t n;
};

static int collect_key_cb(void *arg, const struct objstore_entry *e)
{
	struct key_list *kl = arg;

	kl->keys = xrealloc(kl->keys, (kl->n + 1) * sizeof kl->keys[0]);
	kl->keys[kl->n++] = xstrdup(e->key);
	return 0;
}

/* Remove what the env tests made below env_ns. */
static void clean_env_store(void)
{
	struct key_list kl = { 0 };
	objstore *st;
	size_t i;

	if (!env_url || objstore_open(env_url, &st))
		return;
	if (objstore_list_all(st, env_ns, NULL, collect_key_cb, &kl) ||
	    objstore_delete_many(st, (const char *const *)kl.keys, kl.n))
		fprintf(stderr, "# could not remove the objects under %s\n", env_ns);
	for (i = 0; i < kl.n; i++)
		free(kl.keys[i]);
	free(kl.keys);
	objstore_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_if_absent_one_winner_among_threads_memory),
		cmocka_unit_test(test_put_if_absent_one_winner_among_threads_file),
		cmocka_unit_test(test_put_if_absent_one_winner_among_processes_file),
		cmocka_unit_test(test_readers_see_whole_objects_during_overwrites_file),
		cmocka_unit_test(test_readers_see_whole_objects_during_overwrites_memory),
		/* the rest only with BUCKETFS_TEST_STORE_URL */
		cmocka_unit_test(test_put_if_absent_one_winner_among_threads_env),
		cmocka_unit_test(test_readers_see_whole_objects_during_overwrites_env),
	};
	size_t ntests = sizeof tests / sizeof tests[0];
	int rc;

	rounds = test_env_long("STORE_RACE_ROUNDS", 50);
	dir = test_tmpdir("store-race");
	file_url = xasprintf("file://%s", dir);
	env_url = getenv("BUCKETFS_TEST_STORE_URL");
	if (env_url && !*env_url)
		env_url = NULL;
	snprintf(env_ns, sizeof env_ns, "race%ld-%llx/", (long)getpid(),
		 (unsigned long long)time(NULL));
	if (!env_url)
		ntests -= 2;
	rc = _cmocka_run_group_tests("test-store-race", tests, ntests, NULL, NULL);
	clean_env_store();
	test_rmtree(dir);
	free(file_url);
	free(dir);
	return rc;
}
