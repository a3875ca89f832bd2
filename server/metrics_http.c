/*
 * metrics_http.c — the tiny HTTP/1.x responder of the metrics endpoint
 * (see metrics.h for what it answers).
 *
 * One thread, plain sockets and poll(2): it accepts one connection, reads
 * the request head (at most KT_METRICS_HTTP_MAX_REQUEST bytes, within
 * KT_METRICS_HTTP_TIMEOUT_MS), answers, closes, and takes the next.  A
 * request body is never read: only GET and HEAD are served.  After the
 * answer the write side is shut down and whatever the client still sends
 * is read and dropped for a moment, so that closing does not reset the
 * connection before the client has read the answer.  A self-pipe wakes the
 * thread for kt_metrics_http_stop.
 */
#define _GNU_SOURCE /* accept4 */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LISTEN_BACKLOG 16
#define DRAIN_MS 200
#define ACCEPT_BACKOFF_MS 100
#define DRAIN_MAX (64u * 1024u)
#define MAX_HOST 256

struct kt_metrics_http {
	int fd;                   /* listening socket */
	int wake[2];              /* self-pipe: [1] written by stop */
	int port;
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	pthread_t thread;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Waits until fd is ready for events (or the stop pipe fires) for at most
 * ms.  Returns 1 ready, 0 timeout, -1 stop or error. */
static int wait_fd(kt_metrics_http *h, int fd, short events, int ms)
{
	struct pollfd p[2];
	int n;

	p[0].fd = fd;
	p[0].events = events;
	p[1].fd = h->wake[0];
	p[1].events = POLLIN;
	do {
		p[0].revents = p[1].revents = 0;
		n = poll(p, 2, ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0 || (p[1].revents & POLLIN))
		return -1;
	if (n == 0)
		return 0;
	return 1;
}

/* ---- one connection ------------------------------------------------------- */

/* Reads the request head into buf (NUL-terminated).  Returns its length,
 * 0 if it does not end within cap bytes or the timeout or is cut off
 * (answer 400), -1 if the server is stopping. */
static long read_head(kt_metrics_http *h, int c, char *buf, size_t cap)
{
	uint64_t deadline = mono_ms() + KT_METRICS_HTTP_TIMEOUT_MS;
	size_t len = 0;
	ssize_t n;
	int w;

	buf[0] = '\0';
	while (len < cap - 1) {
		uint64_t now = mono_ms();

		if (now >= deadline)
			return 0;
		w = wait_fd(h, c, POLLIN, (int)(deadline - now));
		if (w <= 0)
			return w;
		n = recv(c, buf + len, cap - 1 - len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0 || memchr(buf + len, '\0', (size_t)n) != NULL)
			return 0;   /* closed early, or a NUL byte: malformed */
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n") != NULL || strstr(buf, "\n\n") != NULL)
			return (long)len;
	}
	return 0;
}

static void send_all(kt_metrics_http *h, int c, const char *p, size_t len)
{
	uint64_t deadline = mono_ms() + KT_METRICS_HTTP_TIMEOUT_MS;
	ssize_t n;

	while (len > 0) {
		uint64_t now = mono_ms();

		if (now >= deadline || wait_fd(h, c, POLLOUT, (int)(deadline - now)) <= 0)
			return;
		n = send(c, p, len, MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void respond(kt_metrics_http *h, int c, int code, const char *reason,
		    const char *extra, const char *ctype, const char *body,
		    size_t body_len, int head_only)
{
	char hdr[512];
	int n;

	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "%sConnection: close\r\n\r\n",
		     code, reason, ctype, body_len, extra);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return;
	send_all(h, c, hdr, (size_t)n);
	if (!head_only && body_len > 0)
		send_all(h, c, body, body_len);
}

static void respond_text(kt_metrics_http *h, int c, int code,
			 const char *reason, const char *extra)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d %s\n", code, reason);

	respond(h, c, code, reason, extra, "text/plain; charset=utf-8", body,
		n > 0 ? (size_t)n : 0, 0);
}

/* Parses "METHOD SP TARGET SP HTTP/1.x" at the start of head.  Returns 0
 * and points *method / *path into head (NUL-terminated there), or -1. */
static int parse_request_line(char *head, char **method, char **path)
{
	char *eol = strchr(head, '\n'), *sp1, *sp2, *q;

	if (eol == NULL)
		return -1;
	if (eol > head && eol[-1] == '\r')
		eol--;
	*eol = '\0';
	sp1 = strchr(head, ' ');
	if (sp1 == NULL || sp1 == head)
		return -1;
	*sp1 = '\0';
	sp2 = strchr(sp1 + 1, ' ');
	if (sp2 == NULL || sp2 == sp1 + 1 || sp1[1] != '/')
		return -1;
	*sp2 = '\0';
	if (strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || strlen(sp2 + 1) != 8)
		return -1;
	for (q = head; *q != '\0'; q++)
		if (*q < 'A' || *q > 'Z')
			return -1;
	q = strchr(sp1 + 1, '?');      /* a query string is ignored */
	if (q != NULL)
		*q = '\0';
	*method = head;
	*path = sp1 + 1;
	return 0;
}

static void serve_metrics(kt_metrics_http *h, int c, int head_only)
{
	char *text = NULL;
	size_t len = 0;
	int r = kt_metrics_render(&text, &len);

	if (r != KT_OK) {
		kt_slog(KT_SLOG_ERROR, "metrics_render", "code=%s", kt_errname(r));
		respond_text(h, c, 500, "Internal Server Error", "");
		return;
	}
	respond(h, c, 200, "OK", "", KT_METRICS_CONTENT_TYPE, text, len, head_only);
	free(text);
}

/* Reads and drops what the client still sends, briefly, after the answer:
 * closing with unread data would reset the connection. */
static void drain(kt_metrics_http *h, int c)
{
	uint64_t deadline = mono_ms() + DRAIN_MS;
	char buf[4096];
	size_t total = 0;
	ssize_t n;

	(void)shutdown(c, SHUT_WR);
	while (total < DRAIN_MAX) {
		uint64_t now = mono_ms();

		if (now >= deadline || wait_fd(h, c, POLLIN, (int)(deadline - now)) <= 0)
			return;
		n = recv(c, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		total += (size_t)n;
	}
}

static void handle_conn(kt_metrics_http *h, int c)
{
	char head[KT_METRICS_HTTP_MAX_REQUEST + 1];
	char *method = NULL, *path = NULL;
	long n = read_head(h, c, head, sizeof(head));

	if (n < 0)
		return;
	if (n == 0 || parse_request_line(head, &method, &path) != 0)
		respond_text(h, c, 400, "Bad Request", "");
	else if (strcmp(path, "/metrics") != 0)
		respond_text(h, c, 404, "Not Found", "");
	else if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		serve_metrics(h, c, method[0] == 'H');
	else
		respond_text(h, c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n");
	drain(h, c);
}

static void *http_thread(void *arg)
{
	kt_metrics_http *h = arg;
	int c;

	for (;;) {
		if (wait_fd(h, h->fd, POLLIN, -1) < 0)
			return NULL;
		/* Non-blocking: every read and write waits in poll, so the
		 * deadlines and the stop pipe always apply. */
		c = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0) {
			/* Out of descriptors or memory: the waiting connection
			 * keeps the socket readable, so pause instead of
			 * spinning (the stop pipe still ends the wait). */
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED &&
			    wait_fd(h, h->wake[0], POLLIN, ACCEPT_BACKOFF_MS) < 0)
				return NULL;
			continue;
		}
		handle_conn(h, c);
		close(c);
	}
}

/* ---- binding ------------------------------------------------------------------ */

static int bind_unix(kt_metrics_http *h, const char *path, char *err,
		     size_t errlen)
{
	struct sockaddr_un sa;

	if (path[0] == '\0' || strlen(path) >= sizeof(sa.sun_path)) {
		kt_err_format(err, errlen, "metrics_listen: bad unix socket path");
		return KT_ERR_INVALID_ARG;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	h->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (h->fd < 0 || bind(h->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(h->fd, LISTEN_BACKLOG) != 0) {
		kt_err_format(err, errlen, "metrics_listen %s: %s", path,
			      strerror(errno));
		return KT_ERR_NET_LISTEN;
	}
	memcpy(h->unix_path, path, strlen(path) + 1);
	return KT_OK;
}

/* Splits "host:port" / "[v6]:port" into host and port strings. */
static int split_addr(const char *addr, char *host, size_t cap,
		      const char **port)
{
	const char *colon = strrchr(addr, ':');
	size_t hl;

	if (colon == NULL || colon[1] == '\0')
		return KT_ERR_INVALID_ARG;
	*port = colon + 1;
	if (addr[0] == '[') {
		if (colon == addr || colon[-1] != ']')
			return KT_ERR_INVALID_ARG;
		addr++;
		hl = (size_t)(colon - 1 - addr);
	} else {
		hl = (size_t)(colon - addr);
	}
	if (hl >= cap)
		return KT_ERR_INVALID_ARG;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	return KT_OK;
}

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

static int bind_inet(kt_metrics_http *h, const char *addr, char *err,
		     size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	char host[MAX_HOST];
	const char *port;
	int one = 1, e, r = KT_ERR_NET_LISTEN;

	if (split_addr(addr, host, sizeof(host), &port) != KT_OK) {
		kt_err_format(err, errlen, "metrics_listen %s: not host:port", addr);
		return KT_ERR_INVALID_ARG;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	e = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res);
	if (e != 0) {
		kt_err_format(err, errlen, "metrics_listen %s: %s", addr,
			      gai_strerror(e));
		return KT_ERR_NET_LISTEN;
	}
	kt_err_format(err, errlen, "metrics_listen %s: no usable address", addr);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		h->fd = socket(ai->ai_family,
			       ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			       ai->ai_protocol);
		if (h->fd < 0)
			continue;
		(void)setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(h->fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(h->fd, LISTEN_BACKLOG) == 0) {
			h->port = bound_port(h->fd);
			r = KT_OK;
			break;
		}
		kt_err_format(err, errlen, "metrics_listen %s: %s", addr,
			      strerror(errno));
		close(h->fd);
		h->fd = -1;
	}
	freeaddrinfo(res);
	if (r == KT_OK)
		kt_err_format(err, errlen, "%s", "");
	return r;
}

/* ---- start / stop --------------------------------------------------------------- */

static void http_free(kt_metrics_http *h)
{
	if (h->fd >= 0)
		close(h->fd);
	if (h->unix_path[0] != '\0')
		(void)unlink(h->unix_path);
	if (h->wake[0] >= 0)
		close(h->wake[0]);
	if (h->wake[1] >= 0)
		close(h->wake[1]);
	free(h);
}

int kt_metrics_http_start(const char *addr, kt_metrics_http **out, char *err,
			  size_t errlen)
{
	kt_metrics_http *h;
	int r;

	*out = NULL;
	kt_err_format(err, errlen, "%s", "");
	if (addr == NULL || addr[0] == '\0')
		return KT_ERR_INVALID_ARG;
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return KT_ERR_NOMEM;
	h->fd = h->wake[0] = h->wake[1] = -1;
	if (pipe(h->wake) != 0) {
		h->wake[0] = h->wake[1] = -1;
		http_free(h);
		return KT_ERR_INTERNAL;
	}
	(void)fcntl(h->wake[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(h->wake[1], F_SETFD, FD_CLOEXEC);
	if (strncmp(addr, "unix:", 5) == 0)
		r = bind_unix(h, addr + 5, err, errlen);
	else
		r = bind_inet(h, addr, err, errlen);
	if (r == KT_OK && pthread_create(&h->thread, NULL, http_thread, h) != 0) {
		kt_err_format(err, errlen, "metrics_listen: cannot start a thread");
		r = KT_ERR_INTERNAL;
	}
	if (r != KT_OK) {
		http_free(h);
		return r;
	}
	*out = h;
	return KT_OK;
}

int kt_metrics_http_port(const kt_metrics_http *h)
{
	return h != NULL ? h->port : 0;
}

void kt_metrics_http_stop(kt_metrics_http *h)
{
	ssize_t n;

	if (h == NULL)
		return;
	do
		n = write(h->wake[1], "x", 1);
	while (n < 0 && errno == EINTR);
	pthread_join(h->thread, NULL);
	http_free(h);
}
