#ifndef WHARF_NET_H
#define WHARF_NET_H

#include <stddef.h>
#include <stdint.h>

/// Thin wrappers over the Linux socket and epoll calls the epoll transport uses. They keep
/// packed kernel structs (epoll_event) and sockaddr juggling out of Swift. Every function
/// returns -errno on failure.

/// Opens a non-blocking listening TCP socket on host:port (IPv4 or IPv6 literal or name).
int wharf_listen(const char *host, int port, int backlog);
/// The local port a socket is bound to.
int wharf_local_port(int fd);
/// Accepts one connection, non-blocking and close-on-exec; -EAGAIN when none is waiting.
int wharf_accept(int listen_fd);
/// Formats the peer (or local) address as "ip:port" into buffer.
void wharf_format_address(int fd, int peer, char *buffer, size_t size);
/// Sets TCP_NODELAY and, when keepalive_seconds > 0, SO_KEEPALIVE with that idle time.
void wharf_configure_client(int fd, int keepalive_seconds);

int wharf_epoll_create(void);
int wharf_epoll_add(int epfd, int fd, uint32_t events);
int wharf_epoll_modify(int epfd, int fd, uint32_t events);
int wharf_epoll_remove(int epfd, int fd);
/// Waits for events; fills fds[i] and events[i]; returns the count or -errno.
int wharf_epoll_wait(int epfd, int32_t *fds, uint32_t *events, int capacity, int timeout_ms);

extern const uint32_t WHARF_EPOLLIN;
extern const uint32_t WHARF_EPOLLOUT;
extern const uint32_t WHARF_EPOLLERR;
extern const uint32_t WHARF_EPOLLHUP;
extern const uint32_t WHARF_EPOLLRDHUP;
extern const uint32_t WHARF_EPOLLEXCLUSIVE;

/// An eventfd for waking a loop from another thread.
int wharf_eventfd(void);
void wharf_eventfd_signal(int fd);
void wharf_eventfd_drain(int fd);

/// recv/send that never raise SIGPIPE; return bytes or -errno.
long wharf_recv(int fd, void *buffer, size_t size);
long wharf_send(int fd, const void *buffer, size_t size);
int wharf_shutdown_write(int fd);
int wharf_close(int fd);

#endif
