// Stand-in: xnu bsd/sys/event.h, the kqueue declarations the platform core uses.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>

#define EVFILT_READ (-1) // xnu: (-1)
#define EV_ADD 0x0001    // "add event to kq (implies enable)"
#define EV_ERROR 0x4000  // "error, data contains errno"
#define EV_EOF 0x8000    // "EOF detected"

struct kevent
{
    std::uintptr_t ident; // identifier for this event
    std::int16_t filter;  // filter for event
    std::uint16_t flags;  // general flags
    std::uint32_t fflags; // filter-specific flags
    std::intptr_t data;   // filter-specific data
    void *udata;          // opaque user data identifier
};

#define EV_SET(kevp, a, b, c, d, e, f)                                                             \
  do {                                                                                             \
    struct kevent *__kevp__ = (kevp);                                                              \
    __kevp__->ident = (a);                                                                         \
    __kevp__->filter = (b);                                                                        \
    __kevp__->flags = (c);                                                                         \
    __kevp__->fflags = (d);                                                                        \
    __kevp__->data = (e);                                                                          \
    __kevp__->udata = (f);                                                                         \
  } while (0)

extern "C" {
int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges, struct kevent *eventlist,
           int nevents, const struct timespec *timeout);
}
