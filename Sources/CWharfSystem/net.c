#define _GNU_SOURCE
#include "wharf_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/epoll.h>
#include <sys/eventfd.h>

const uint32_t WHARF_EPOLLIN = EPOLLIN;
const uint32_t WHARF_EPOLLOUT = EPOLLOUT;
const uint32_t WHARF_EPOLLERR = EPOLLERR;
const uint32_t WHARF_EPOLLHUP = EPOLLHUP;
const uint32_t WHARF_EPOLLRDHUP = EPOLLRDHUP;
const uint32_t WHARF_EPOLLEXCLUSIVE = EPOLLEXCLUSIVE;

int wharf_listen(const char *host, int port, int backlog) {
    struct addrinfo hints, *result = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    int status = getaddrinfo(host, service, &hints, &result);
    if (status != 0) return status == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
    int error = -EADDRNOTAVAIL;
    for (struct addrinfo *ai = result; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) { error = -errno; continue; }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
            error = -errno;
            close(fd);
            continue;
        }
        freeaddrinfo(result);
        return fd;
    }
    freeaddrinfo(result);
    return error;
}

int wharf_local_port(int fd) {
    struct sockaddr_storage address;
    socklen_t length = sizeof(address);
    if (getsockname(fd, (struct sockaddr *)&address, &length) != 0) return -errno;
    if (address.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&address)->sin_port);
    if (address.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&address)->sin6_port);
    return -EAFNOSUPPORT;
}

int wharf_accept(int listen_fd) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

void wharf_format_address(int fd, int peer, char *buffer, size_t size) {
    struct sockaddr_storage address;
    socklen_t length = sizeof(address);
    int status = peer ? getpeername(fd, (struct sockaddr *)&address, &length)
                      : getsockname(fd, (struct sockaddr *)&address, &length);
    if (status != 0) { snprintf(buffer, size, "?:0"); return; }
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (address.ss_family == AF_INET) {
        struct sockaddr_in *v4 = (struct sockaddr_in *)&address;
        inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof(ip));
        port = ntohs(v4->sin_port);
    } else if (address.ss_family == AF_INET6) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&address;
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof(ip));
        port = ntohs(v6->sin6_port);
    }
    snprintf(buffer, size, "%s:%d", ip, port);
}

void wharf_configure_client(int fd, int keepalive_seconds) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (keepalive_seconds > 0) {
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
        int idle = keepalive_seconds;
        int interval = keepalive_seconds / 3 > 0 ? keepalive_seconds / 3 : 1;
        int count = 3;
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));
    }
}

int wharf_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

static int control(int epfd, int op, int fd, uint32_t events) {
    struct epoll_event event;
    memset(&event, 0, sizeof(event));
    event.events = events;
    event.data.fd = fd;
    return epoll_ctl(epfd, op, fd, &event) == 0 ? 0 : -errno;
}

int wharf_epoll_add(int epfd, int fd, uint32_t events) { return control(epfd, EPOLL_CTL_ADD, fd, events); }
int wharf_epoll_modify(int epfd, int fd, uint32_t events) { return control(epfd, EPOLL_CTL_MOD, fd, events); }
int wharf_epoll_remove(int epfd, int fd) { return control(epfd, EPOLL_CTL_DEL, fd, 0); }

int wharf_epoll_wait(int epfd, int32_t *fds, uint32_t *events, int capacity, int timeout_ms) {
    struct epoll_event ready[256];
    if (capacity > 256) capacity = 256;
    int count = (int)syscall(SYS_epoll_wait, epfd, ready, capacity, timeout_ms);
    if (count < 0) return -errno;
    for (int i = 0; i < count; i++) {
        fds[i] = ready[i].data.fd;
        events[i] = ready[i].events;
    }
    return count;
}

int wharf_eventfd(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd >= 0 ? fd : -errno;
}

void wharf_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t ignored = write(fd, &one, sizeof(one));
    (void)ignored;
}

void wharf_eventfd_drain(int fd) {
    uint64_t value;
    ssize_t ignored = read(fd, &value, sizeof(value));
    (void)ignored;
}

/* recv, send and epoll_wait go through syscall() directly: glibc's wrappers are thread
   cancellation points and toggle asynchronous cancellation around every call, which Wharf
   never uses and which costs measurable time on the per-request path. */
long wharf_recv(int fd, void *buffer, size_t size) {
    long count = syscall(SYS_recvfrom, fd, buffer, size, 0, NULL, NULL);
    return count >= 0 ? count : -(long)errno;
}

long wharf_send(int fd, const void *buffer, size_t size) {
    long count = syscall(SYS_sendto, fd, buffer, size, MSG_NOSIGNAL, NULL, 0);
    return count >= 0 ? count : -(long)errno;
}

int wharf_shutdown_write(int fd) { return shutdown(fd, SHUT_WR) == 0 ? 0 : -errno; }
int wharf_close(int fd) { return close(fd) == 0 ? 0 : -errno; }

#endif
