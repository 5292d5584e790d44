// Stand-in: <poll.h> (<sys/poll.h>) as far as the platform core uses it;
// xnu bsd/sys/poll.h, FreeBSD sys/sys/poll.h, OpenBSD sys/sys/poll.h.
#pragma once

struct pollfd
{
    int fd;
    short events;
    short revents;
};

typedef unsigned int nfds_t; // all three: unsigned int

#define POLLIN 0x0001   // all three: "any readable data available"
#define POLLOUT 0x0004  // all three: "file descriptor is writeable"
#define POLLERR 0x0008  // all three: "some poll error occurred"
#define POLLHUP 0x0010  // all three: "file descriptor was hung up"
#define POLLNVAL 0x0020 // all three: "requested events "invalid""

extern "C" int poll(struct pollfd *fds, nfds_t nfds, int timeout);
