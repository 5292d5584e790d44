// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
// What Linux, macOS and FreeBSD share: int socket options and errno.
#include "keepaliveplatform_posix_p.h"

#include <cerrno>

#include <poll.h>
#include <sys/socket.h>

using namespace std::chrono;

namespace KeepAlivePlatform {

namespace Posix {

bool setInt(qintptr descriptor, int level, int option, int value)
{
    return ::setsockopt(int(descriptor), level, option, &value, sizeof value) == 0;
}

bool getInt(qintptr descriptor, int level, int option, int *value)
{
    socklen_t length = sizeof *value;
    return ::getsockopt(int(descriptor), level, option, value, &length) == 0;
}

int seconds(milliseconds value, const DurationLimit &limit)
{
    return int(duration_cast<std::chrono::seconds>(roundUp(value, limit)).count());
}

short pollNow(qintptr descriptor)
{
    pollfd entry{int(descriptor), POLLIN, 0};
    int ready;
    do {
        ready = ::poll(&entry, 1, 0);
    } while (ready < 0 && errno == EINTR);
    return ready > 0 ? entry.revents : 0;
}

} // namespace Posix

namespace {

OsError fromErrno(int error)
{
    switch (error) {
    case 0:
        return OsError::None;
    case ETIMEDOUT:
        return OsError::TimedOut;
    case ECONNRESET:
        return OsError::Reset;
    case EPIPE: // Linux: a RST received in CLOSE_WAIT, i.e. after the peer's FIN
        return OsError::PeerClosed;
    case EHOSTUNREACH:
    case EHOSTDOWN: // ICMP host unknown
#if defined(ENONET)
    case ENONET: // Linux: ICMP host isolated
#endif
        return OsError::HostUnreachable;
    case ENETUNREACH:
    case ENETDOWN:
        return OsError::NetworkUnreachable;
    default:
        return OsError::Other;
    }
}

} // namespace

void clearLastError()
{
    errno = 0;
}

OsError lastError()
{
    return fromErrno(errno);
}

bool lastErrorSurvivesQtRead()
{
    return true;
}

OsError takePendingError(qintptr descriptor)
{
    int error = 0;
    if (!Posix::getInt(descriptor, SOL_SOCKET, SO_ERROR, &error))
        return OsError::None;
    return fromErrno(error);
}

} // namespace KeepAlivePlatform
