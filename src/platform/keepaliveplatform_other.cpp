// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
// POSIX systems without per-socket keepalive timing in this library: OpenBSD
// (which has none per socket, only the net.inet.tcp.keepidle/keepintvl
// sysctls), NetBSD, DragonFly, illumos and others. keepaliveplatform_posix.cpp
// sets SO_KEEPALIVE only; supportedFields() reports idle, interval, probe
// count and user timeout as unsupported, so that callers can tell that the
// system defaults apply. Pending errors are seen as POLLERR where the system
// reports them so; otherwise Qt's own read finds the death.
#include "keepaliveplatform_posix_p.h"

#include <climits>

#include <poll.h>

#if defined(__linux__) || defined(__APPLE__) || defined(__FreeBSD__)
#  error "keepaliveplatform_other.cpp is for the POSIX systems without a platform file of their own"
#endif

using namespace std::chrono;
using namespace std::chrono_literals;

namespace KeepAliveCore {

Limits Posix::limits()
{
    // Nothing is set but SO_KEEPALIVE: validation only keeps the values
    // within what the library can compute with.
    const DurationLimit anySeconds{1ms, std::chrono::seconds(INT_MAX), 1s};
    const DurationLimit userTimeout{1s, std::chrono::seconds(INT_MAX), 1s};
    return Limits{anySeconds, anySeconds, userTimeout, 1, INT_MAX, 0, true};
}

bool hasPendingError(NativeHandle handle)
{
    // POLLERR does not consume the error; a peek or SO_ERROR would.
    return Posix::pollNow(handle) & POLLERR;
}

Health health(NativeHandle)
{
    return {}; // no TCP_INFO read here: invalid
}

} // namespace KeepAliveCore
