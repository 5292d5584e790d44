// Stand-in: FreeBSD 14 sys/sys/event.h, the kqueue declarations the platform core uses.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>

#define EVFILT_READ (-1) // FreeBSD: (-1)
#define EV_ADD 0x0001    // "add event to kq (implies enable)"
#define EV_ERROR 0x4000  // "error, data contains errno"
#define EV_EOF 0x8000    // "EOF detected"

struct kevent
{
    std::uintptr_t ident; // identifier for this event
    short filter;         // filter for event
    unsigned short flags; // action flags for kqueue
    unsigned int fflags;  // filter flag value
    std::int64_t data;    // filter data value
    void *udata;          // opaque user data identifier
    std::uint64_t ext[4]; // extensions
};

#define EV_SET(kevp_, a, b, c, d, e, f)                                                            \
  do {                                                                                             \
    struct kevent *kevp = (kevp_);                                                                 \
    (kevp)->ident = (a);                                                                           \
    (kevp)->filter = (b);                                                                          \
    (kevp)->flags = (c);                                                                           \
    (kevp)->fflags = (d);                                                                          \
    (kevp)->data = (e);                                                                            \
    (kevp)->udata = (f);                                                                           \
    (kevp)->ext[0] = 0;                                                                            \
    (kevp)->ext[1] = 0;                                                                            \
    (kevp)->ext[2] = 0;                                                                            \
    (kevp)->ext[3] = 0;                                                                            \
  } while (0)

extern "C" {
int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges, struct kevent *eventlist,
           int nevents, const struct timespec *timeout);
}
