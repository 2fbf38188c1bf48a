/* test-store-race.c -- the object store under concurrency: put_if_absent
 * has exactly one winner among racing threads and racing processes (the
 * fencing primitive), and readers during overwrites see whole objects,
 * never a mix or a prefix.
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

static void threads_race(const char *url)
{
	objstore *st;
	char key[64];
	long r;

	assert_int_equal(objstore_open(url, &st), 0);
	for (r = 0; r < rounds; r++) {
		snprintf(key, sizeof key, "manifest/%020ld", r);
		assert_winner_stored(st, key, thread_race(st, key));
	}
	objstore_close(st);
}

static void test_put_if_absent_one_winner_among_threads_memory(void **state)
{
	(void)state;
	objstore_memory_reset("race");
	threads_race("memory://race");
}

static void test_put_if_absent_one_winner_among_threads_file(void **state)
{
	(void)state;
	threads_race(file_url);
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
		if (objstore_get(run->st, "hot/object", 0, OBJSTORE_GET_TO_END, &p, &n)) {
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

static void overwrite_under_readers(const char *url)
{
	struct overwrite_run run = { 0 };
	uint8_t *first = gen_data(0);
	pthread_t t[READERS];
	uint64_t g;
	unsigned i;

	assert_int_equal(objstore_open(url, &run.st), 0);
	assert_int_equal(objstore_put(run.st, "hot/object", first, gen_len(0)), 0);
	free(first);
	for (i = 0; i < READERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader, &run), 0);
	for (g = 1; g <= OVERWRITES; g++) {
		uint8_t *data = gen_data(g);
		assert_int_equal(objstore_put(run.st, "hot/object", data, gen_len(g)), 0);
		free(data);
	}
	atomic_store(&run.done, true);
	for (i = 0; i < READERS; i++)
		pthread_join(t[i], NULL);
	print_message("# %ld reads during %d overwrites\n", atomic_load(&run.reads), OVERWRITES);
	assert_int_equal(atomic_load(&run.bad), 0);
	assert_true(atomic_load(&run.reads) > 0);
	objstore_close(run.st);
}

static void test_readers_see_whole_objects_during_overwrites_file(void **state)
{
	(void)state;
	overwrite_under_readers(file_url);
}

static void test_readers_see_whole_objects_during_overwrites_memory(void **state)
{
	(void)state;
	objstore_memory_reset("overwrite");
	overwrite_under_readers("memory://overwrite");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_if_absent_one_winner_among_threads_memory),
		cmocka_unit_test(test_put_if_absent_one_winner_among_threads_file),
		cmocka_unit_test(test_put_if_absent_one_winner_among_processes_file),
		cmocka_unit_test(test_readers_see_whole_objects_during_overwrites_file),
		cmocka_unit_test(test_readers_see_whole_objects_during_overwrites_memory),
	};
	int rc;

	rounds = test_env_long("STORE_RACE_ROUNDS", 50);
	dir = test_tmpdir("store-race");
	file_url = xasprintf("file://%s", dir);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	test_rmtree(dir);
	free(file_url);
	free(dir);
	return rc;
}
