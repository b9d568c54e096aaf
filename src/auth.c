/*
 * auth.c - Argon2id, the credential MAC and the hashing pool.
 *
 * Argon2id costs milliseconds and argon2-memory-kib of memory per hash, so
 * it never runs on an HTTP thread: first contacts queue a job and suspend,
 * and argon2-max-concurrent workers take jobs in arrival order.  That
 * bounds the memory a burst of first contacts can claim, and keeps every
 * other request flowing meanwhile.
 */
#include <argon2.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "util.h"

#define MAC_KEY_BYTES 32

static struct auth_params params;
static atomic_uint min_password_length; /* params', reloadable */
static uint8_t mac_key[MAC_KEY_BYTES];
static unsigned key_generation; /* a new key at each auth_init */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct auth_job *queue_head, *queue_tail;
static bool stopping;
static pthread_t *workers;
static unsigned nworkers;

static void
finish(struct auth_job *job, int result)
{
	job->result = result;
	wipe(job->password, job->len);
	free(job->password);
	job->password = NULL;
	job->done(job);
}

static void *
worker(void *arg)
{
	struct auth_job *job;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&lock);
		while (queue_head == NULL && !stopping)
			pthread_cond_wait(&cond, &lock);
		if ((job = queue_head) != NULL) {
			queue_head = job->next;
			if (queue_head == NULL)
				queue_tail = NULL;
		}
		pthread_mutex_unlock(&lock);
		if (job == NULL)
			return NULL;
		if (stopping)
			finish(job, -1);
		else if (job->work != NULL)
			finish(job, job->work(job));
		else
			finish(job, auth_hash(job->password, job->len,
			    &job->hash));
	}
}

int
auth_init(const struct auth_params *p)
{
	unsigned i;

	params = *p;
	atomic_store(&min_password_length, p->min_password_length);
	if (params.max_concurrent == 0)
		params.max_concurrent = 1;
	if (random_bytes(mac_key, sizeof(mac_key)) == -1)
		return -1;
	key_generation++;
	workers = calloc(params.max_concurrent, sizeof(*workers));
	if (workers == NULL)
		return -1;
	stopping = false;
	for (i = 0; i < params.max_concurrent; i++) {
		int e = pthread_create(&workers[i], NULL, worker, NULL);

		if (e != 0) {
			auth_stop();
			errno = e;
			return -1;
		}
		nworkers++;
	}
	return 0;
}

_Static_assert(MAC_KEY_BYTES == CRED_MAC_BYTES, "a shared key is a MAC's size");

void
auth_set_key(const uint8_t key[CRED_MAC_BYTES])
{
	memcpy(mac_key, key, sizeof(mac_key));
	key_generation++; /* every thread keys its context again */
}

void
auth_set_min_password_length(unsigned len)
{
	atomic_store(&min_password_length, len);
}

void
auth_stop(void)
{
	unsigned i;

	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	for (i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	free(workers);
	workers = NULL;
	nworkers = 0;
}

const char *
auth_check_username(const char *user, size_t len)
{
	const unsigned char *s = (const unsigned char *)user;
	size_t i, n;

	if (len == 0)
		return "username is empty";
	if (len > AUTH_USERNAME_MAX)
		return "username is longer than 256 bytes";
	for (i = 0; i < len; i += n) {
		if (s[i] < 0x20 || s[i] == 0x7f)
			return "username contains a control character";
		if ((n = utf8_len(s + i, len - i)) == 0)
			return "username is not UTF-8";
	}
	return NULL;
}

const char *
auth_check_password(size_t len)
{
	if (len == 0)
		return "password is empty";
	if (len < atomic_load(&min_password_length))
		return "password is shorter than min-password-length";
	if (len > AUTH_PASSWORD_MAX)
		return "password is longer than 1024 bytes";
	return NULL;
}

/*
 * HMAC with the key already absorbed: each thread keys a context once and
 * copies it per request, sparing the key schedule (two SHA-256 blocks)
 * and GnuTLS's set-up on every poll.  A thread-specific key frees the
 * context when its thread ends.
 */
struct keyed {
	gnutls_hmac_hd_t h;
	unsigned generation;
};

static pthread_key_t keyed_key;
static pthread_once_t keyed_once = PTHREAD_ONCE_INIT;

static void
keyed_free(void *p)
{
	struct keyed *k = p;

	if (k->h != NULL)
		gnutls_hmac_deinit(k->h, NULL);
	free(k);
}

static void
keyed_create(void)
{
	pthread_key_create(&keyed_key, keyed_free);
}

static gnutls_hmac_hd_t
keyed_context(void)
{
	struct keyed *k;

	pthread_once(&keyed_once, keyed_create);
	if ((k = pthread_getspecific(keyed_key)) == NULL) {
		if ((k = calloc(1, sizeof(*k))) == NULL)
			return NULL;
		pthread_setspecific(keyed_key, k);
	}
	if (k->h != NULL && k->generation == key_generation)
		return gnutls_hmac_copy(k->h);
	if (k->h != NULL)
		gnutls_hmac_deinit(k->h, NULL);
	if (gnutls_hmac_init(&k->h, GNUTLS_MAC_SHA256, mac_key,
	    sizeof(mac_key)) < 0) {
		k->h = NULL;
		return NULL;
	}
	k->generation = key_generation;
	return gnutls_hmac_copy(k->h);
}

void
auth_mac(const char *user, const char *password, size_t password_len,
    uint8_t mac[CRED_MAC_BYTES])
{
	gnutls_hmac_hd_t h = keyed_context();
	static const char sep = '\0';

	if (h == NULL) {
		/* Out of memory: a MAC nobody can match fails closed. */
		random_bytes(mac, CRED_MAC_BYTES);
		return;
	}
	/* The username is bound in, so equal passwords give unequal MACs. */
	gnutls_hmac(h, user, strlen(user));
	gnutls_hmac(h, &sep, 1);
	gnutls_hmac(h, password, password_len);
	gnutls_hmac_deinit(h, mac);
}

void
auth_bearer_mac(const char *user, uint8_t mac[CRED_MAC_BYTES])
{
	static const char bearer[] = "\0bearer";

	auth_mac(user, bearer, sizeof(bearer) - 1, mac);
}

int
auth_bearer_hash(struct cred_hash *h)
{
	memset(h->tag, 0, sizeof(h->tag));
	return random_bytes(h->salt, sizeof(h->salt));
}

bool
auth_is_bearer_hash(const struct cred_hash *h)
{
	static const uint8_t zero[CRED_TAG_BYTES];

	return ct_memcmp(h->tag, zero, sizeof(zero)) == 0;
}

int
auth_hash(const char *password, size_t len, struct cred_hash *h)
{
	if (random_bytes(h->salt, sizeof(h->salt)) == -1)
		return -1;
	if (argon2id_hash_raw(params.time_cost, params.memory_kib,
	    params.parallelism, password, len, h->salt, sizeof(h->salt), h->tag,
	    sizeof(h->tag)) != ARGON2_OK)
		return -1;
	return 0;
}

int
auth_verify(const char *password, size_t len, const struct cred_hash *h)
{
	uint8_t tag[CRED_TAG_BYTES];
	int r = -1;

	if (argon2id_hash_raw(params.time_cost, params.memory_kib,
	    params.parallelism, password, len, h->salt, sizeof(h->salt), tag,
	    sizeof(tag)) != ARGON2_OK)
		goto done;
	r = ct_memcmp(tag, h->tag, sizeof(tag)) == 0 ? 0 : -1;
done:
	wipe(tag, sizeof(tag));
	return r;
}

void
auth_submit(struct auth_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&lock);
	if (stopping) {
		pthread_mutex_unlock(&lock);
		finish(job, -1);
		return;
	}
	if (queue_tail != NULL)
		queue_tail->next = job;
	else
		queue_head = job;
	queue_tail = job;
	pthread_cond_signal(&cond);
	pthread_mutex_unlock(&lock);
}
