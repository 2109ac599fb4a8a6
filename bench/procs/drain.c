// Drain readers for `npm run bench fanout` that cost the machine as little as a reader can: each socket does the
// WebSocket handshake, then its bytes are spliced into a pipe and from there into /dev/null, so the payload is never
// copied into user space (the Node readers spent ~0.8 cores receiving 2.4 GB/s, the relay's whole budget on this
// machine). Driven over stdin/stdout by bench/procs/drain.ts, one command per line:
//   open PATH   connect and upgrade one more reader (the reply comes with the next `sync`)
//   sync        prints `connected` once every reader opened so far is upgraded, or `error MESSAGE`
//   pause MS    stop reading every socket for MS milliseconds (the kernel buffers fill, the relay queues)
//   report      prints one JSON line: [{"path":..,"bytes":..,"closed":..}, ...]
// EOF on stdin ends it. Every 15 s each reader sends an unsolicited empty pong (masked, as RFC 6455 asks of a
// client), which the relay counts as a sign of life, as bench/lib/drain.ts does.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1 << 20)
#define HEARTBEAT_MS 15000

struct reader {
  int fd;
  char *path;
  uint64_t bytes;
  int closed;
};

static struct reader *readers;
static size_t count, cap;
static const char *host, *port;
static int ep, pipe_r, pipe_w, devnull, use_splice = 1;
static char *scratch;
static char failure[8192 + 4096];

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int dial(void) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
  if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
  int fd = -1;
  for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype, 0);
    if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  return fd;
}

// Connects and upgrades one reader, blocking; bytes that came with the 101 response count as stream bytes.
static int open_reader(const char *path) {
  int fd = dial();
  if (fd < 0) {
    snprintf(failure, sizeof failure, "%s: cannot connect to %s:%s", path, host, port);
    return -1;
  }
  char req[2048];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: ZHJhaW4tcmVhZGVyLWtleQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
                   path, host, port);
  if (write(fd, req, n) != n) goto fail;
  char head[8192];
  size_t got = 0;
  char *end = NULL;
  while (!end && got < sizeof head - 1) {
    ssize_t r = read(fd, head + got, sizeof head - 1 - got);
    if (r <= 0) goto fail;
    got += r;
    head[got] = 0;
    end = strstr(head, "\r\n\r\n");
  }
  if (!end || strncmp(head, "HTTP/1.1 101", 12) != 0) {
    char *eol = strstr(head, "\r\n");
    if (eol) *eol = 0;
    snprintf(failure, sizeof failure, "%s: %s", path, head);
    close(fd);
    return -1;
  }
  if (count == cap) {
    cap = cap ? cap * 2 : 64;
    readers = realloc(readers, cap * sizeof *readers);
  }
  struct reader *rd = &readers[count];
  rd->fd = fd;
  rd->path = strdup(path);
  rd->bytes = got - (size_t)(end + 4 - head);
  rd->closed = 0;
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = count + 1};
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  count++;
  return 0;
fail:
  snprintf(failure, sizeof failure, "%s: the upgrade failed", path);
  close(fd);
  return -1;
}

static void finish(struct reader *rd) {
  epoll_ctl(ep, EPOLL_CTL_DEL, rd->fd, NULL);
  close(rd->fd);
  rd->fd = -1;
  rd->closed = 1;
}

// Reads until the socket has nothing more: spliced to /dev/null, or read into one scratch buffer where the kernel
// cannot splice this socket.
static void drain(struct reader *rd) {
  for (;;) {
    ssize_t n;
    if (use_splice) {
      n = splice(rd->fd, NULL, pipe_w, NULL, CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0 && errno == EINVAL) {
        use_splice = 0;
        continue;
      }
      for (ssize_t left = n; left > 0;) {
        ssize_t m = splice(pipe_r, NULL, devnull, NULL, left, SPLICE_F_MOVE);
        if (m <= 0) break;
        left -= m;
      }
    } else {
      n = read(rd->fd, scratch, CHUNK);
    }
    if (n > 0) {
      rd->bytes += n;
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) finish(rd);
    return;
  }
}

static void set_reading(int on) {
  for (size_t i = 0; i < count; i++) {
    if (readers[i].fd < 0) continue;
    struct epoll_event ev = {.events = on ? EPOLLIN : 0, .data.u64 = i + 1};
    epoll_ctl(ep, EPOLL_CTL_MOD, readers[i].fd, &ev);
  }
}

static void heartbeat(void) {
  static const unsigned char pong[] = {0x8a, 0x80, 0, 0, 0, 0};
  for (size_t i = 0; i < count; i++)
    if (readers[i].fd >= 0 && write(readers[i].fd, pong, sizeof pong) < 0 && errno != EAGAIN) finish(&readers[i]);
}

static void report(void) {
  fputc('[', stdout);
  for (size_t i = 0; i < count; i++) {
    fputs(i ? ",{\"path\":\"" : "{\"path\":\"", stdout);
    for (const char *c = readers[i].path; *c; c++) {
      if (*c == '"' || *c == '\\') fputc('\\', stdout);
      fputc(*c, stdout);
    }
    printf("\",\"bytes\":%llu,\"closed\":%s}", (unsigned long long)readers[i].bytes, readers[i].closed ? "true" : "false");
  }
  fputs("]\n", stdout);
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
    return 2;
  }
  host = argv[1];
  port = argv[2];
  ep = epoll_create1(0);
  int p[2];
  if (pipe2(p, O_NONBLOCK) != 0) return 1;
  pipe_r = p[0];
  pipe_w = p[1];
  fcntl(pipe_w, F_SETPIPE_SZ, CHUNK);
  devnull = open("/dev/null", O_WRONLY);
  scratch = malloc(CHUNK);
  struct epoll_event in = {.events = EPOLLIN, .data.u64 = 0};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in);
  setvbuf(stdin, NULL, _IONBF, 0);

  char line[4096];
  size_t have = 0;
  int64_t next_beat = now_ms() + HEARTBEAT_MS, resume_at = 0;
  struct epoll_event evs[256];
  for (;;) {
    int64_t now = now_ms();
    int64_t wake = next_beat;
    if (resume_at && resume_at < wake) wake = resume_at;
    int n = epoll_wait(ep, evs, 256, wake > now ? (int)(wake - now) : 0);
    now = now_ms();
    if (resume_at && now >= resume_at) {
      resume_at = 0;
      set_reading(1);
    }
    if (now >= next_beat) {
      heartbeat();
      next_beat = now + HEARTBEAT_MS;
    }
    for (int i = 0; i < n; i++) {
      if (evs[i].data.u64) {
        drain(&readers[evs[i].data.u64 - 1]);
        continue;
      }
      ssize_t r = read(0, line + have, sizeof line - 1 - have);
      if (r <= 0) return 0;
      have += r;
      char *nl;
      while ((nl = memchr(line, '\n', have))) {
        *nl = 0;
        if (strncmp(line, "open ", 5) == 0) {
          if (!failure[0]) open_reader(line + 5);
        } else if (strcmp(line, "sync") == 0) {
          if (failure[0]) printf("error %s\n", failure);
          else puts("connected");
          failure[0] = 0;
          fflush(stdout);
        } else if (strncmp(line, "pause ", 6) == 0) {
          set_reading(0);
          resume_at = now_ms() + atoll(line + 6);
        } else if (strcmp(line, "report") == 0) {
          report();
        }
        size_t used = nl + 1 - line;
        memmove(line, nl + 1, have - used);
        have -= used;
      }
    }
  }
}
