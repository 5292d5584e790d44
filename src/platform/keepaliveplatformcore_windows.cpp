// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
// The Windows profile, built from what keepaliveplatform_win.cpp's run-time
// probe found. No OS header (WindowsConstants, checked against the SDK's by
// static_assert in keepaliveplatform_win.cpp): both paths, the
// per-socket options and the SIO_KEEPALIVE_VALS fallback, are planned and
// unit-tested on any platform.
#include "keepaliveplatformcore_p.h"

using namespace std::chrono;
using namespace std::chrono_literals;

namespace KeepAliveCore {

Profile windowsProfile(const WindowsSupport &support)
{
    namespace W = WindowsConstants;
    // The stack keeps keepalive times as 32-bit milliseconds: SIO_KEEPALIVE_VALS
    // takes ULONG ms, and the Tcpip KeepAliveTime/KeepAliveInterval registry
    // values are documented as 1..0xFFFFFFFF ms. Per-socket options take whole
    // seconds of that. TCP_MAXRT documents no upper bound; the same is assumed.
    constexpr milliseconds longestMs = milliseconds(0xFFFFFFFFLL);
    constexpr milliseconds longestSeconds = duration_cast<seconds>(longestMs);
    // "It is illegal to set TCP_KEEPCNT to a value greater than 255" (IPPROTO_TCP socket options).
    constexpr int maximumProbeCount = 255;
    // SIO_KEEPALIVE_VALS cannot set the count: Vista and later send 10 probes.
    constexpr int sioFixedProbeCount = 10;

    Profile profile;
    OptionTable &options = profile.options;
    options.enabled = {"SO_KEEPALIVE", W::SolSocket, W::SoKeepAlive, Unit::Boolean};
    options.socketError = {"SO_ERROR", W::SolSocket, W::SoError};
    if (support.maxRtSettable) {
        options.userTimeout = {"TCP_MAXRT", W::IpProtoTcp, W::TcpMaxRt, Unit::Seconds,
                               support.defaultMaxRt.has_value()};
        // Windows documents no "default" TCP_MAXRT (0xFFFFFFFF retransmits
        // forever), so "off" writes back what a fresh socket holds, which
        // reads back as that value: it is the system's own bound.
        if (support.defaultMaxRt)
            options.userTimeoutOff = *support.defaultMaxRt;
        else
            options.userTimeoutOff.reset();
        options.whyNoUserTimeoutOff =
                "the default is unknown (a new socket's TCP_MAXRT was unreadable)";
        options.userTimeoutForever = 0xFFFFFFFFLL;
    } else {
        // Nothing to set, so nothing to refuse in Automatic or Off mode: only
        // a bound asked for explicitly is reported (plan()).
        options.userTimeoutOff.reset();
        options.whyNoUserTimeout = support.maxRtError == W::WsaENoProtoOpt
                ? "this Windows refuses TCP_MAXRT (WSAENOPROTOOPT)"
                : "this Windows refuses TCP_MAXRT";
    }

    // TCP_MAXRT takes seconds anyway; 1 s is also the library's minimum (see
    // KeepAliveOptions::setUserTimeout()).
    const DurationLimit userTimeout{1s, longestSeconds, 1s};
    if (support.perSocketOptions) {
        options.idle = {"TCP_KEEPIDLE", W::IpProtoTcp, W::TcpKeepIdle, Unit::Seconds};
        options.interval = {"TCP_KEEPINTVL", W::IpProtoTcp, W::TcpKeepIntvl, Unit::Seconds};
        options.probeCount = {"TCP_KEEPCNT", W::IpProtoTcp, W::TcpKeepCnt, Unit::Count};
        const DurationLimit wholeSeconds{1ms, longestSeconds, 1s};
        profile.limits =
                Limits{wholeSeconds, wholeSeconds, userTimeout, 1, maximumProbeCount, 0, true};
    } else {
        // Values set with SIO_KEEPALIVE_VALS cannot be read back: unknown then.
        options.keepAliveValues = true;
        // The count is accepted (and ignored) so that options valid on newer
        // Windows stay valid; detectionBound() uses the fixed 10, or under
        // Wine the host kernel's count (Linux: 9 by default).
        const DurationLimit sioTime{1ms, longestMs, 1ms};
        const int fixedProbeCount = support.hostProbeCount.value_or(sioFixedProbeCount);
        profile.limits =
                Limits{sioTime, sioTime, userTimeout, 1, maximumProbeCount, fixedProbeCount, true};
    }
    return profile;
}

} // namespace KeepAliveCore
