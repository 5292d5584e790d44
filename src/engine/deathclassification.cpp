// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "deathclassification_p.h"

#include "keepaliveformat_p.h"

using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

using Reason = QtKeepAlive::DeadPeerReason;
using OsError = KeepAlivePlatform::OsError;

QString formatSeconds(milliseconds value)
{
    if (value.count() % 1000 == 0)
        return QStringLiteral("%1 s").arg(value.count() / 1000);
    return QStringLiteral("%1 s").arg(double(value.count()) / 1000.0, 0, 'f', 3);
}

} // namespace

QtKeepAlive::DeadPeerReason classifyDeadPeer(QAbstractSocket::SocketError qtError, OsError osError,
                                             const DeathEvidence &evidence)
{
    return classifyDeadPeer(qtError, osError, evidence,
                            osErrorSurvivesQtRead() ? OsErrorSource::QtRead
                                                    : OsErrorSource::LookedBeforeRead);
}

QtKeepAlive::DeadPeerReason classifyDeadPeer(QAbstractSocket::SocketError qtError, OsError osError,
                                             const DeathEvidence &evidence, OsErrorSource source)
{
    if (source == OsErrorSource::LookedBeforeRead && osError == OsError::None) {
        // The kernel showed no error just before the read: the peer's FIN
        // (what followed it, a RST answering our data, is an orderly close
        // too). Any other code: an error that came between the look and the
        // read, told by Qt's code alone.
        if (qtError == QAbstractSocket::RemoteHostClosedError)
            return Reason::None;
        osError = osErrorFromQtError(qtError);
    } else if (source != OsErrorSource::QtRead) {
        // Windows: Qt's code says nothing about the cause (qnativesocketengine_win.cpp
        // reads WSAETIMEDOUT and WSAENETRESET as NetworkError, WSAECONNABORTED
        // as RemoteHostClosedError, and a timed-out connection whose recv()
        // gives 0 as RemoteHostClosedError too); the error found before the
        // read decides where there is one.
        if (osError == OsError::None)
            osError = osErrorFromQtError(qtError);
    } else if (!osErrorMatchesQtError(osError, qtError)) {
        // Cleared before Qt's read and still clear: the read met an orderly
        // end-of-file (the peer's FIN came first, whatever followed it).
        if (osError == OsError::None && qtError == QAbstractSocket::RemoteHostClosedError)
            return Reason::None;
        osError = osErrorFromQtError(qtError);
    }
    switch (osError) {
    case OsError::TimedOut: {
        // Keepalive probes leave tcpi_probes > 0 and never touch the
        // retransmission backoff; a retransmission or zero-window-probe death
        // leaves retransmits or backoff > 0 (measured on Linux: probes 2 /
        // retrans 0 versus probes 0 / retrans 4).
        // Without those counters (Windows, macOS, FreeBSD, no TCP_INFO, or a
        // death met without a look): keepalive never probes while data is
        // outstanding, so it was a retransmission death exactly when data
        // was, or keepalive was off.
        const ConnectionHealth &h = evidence.health;
        const bool counted = h.retransmits.has_value() || h.backoff.has_value();
        const bool retransmitting = evidence.sendStalled || h.retransmits.value_or(0) > 0
                || h.backoff.value_or(0) > 0
                || (!counted
                    && (evidence.dataOutstanding || h.unackedSegments.value_or(0) > 0
                        || evidence.keepAliveOff));
        return retransmitting ? Reason::RetransmissionTimeout : Reason::KeepAliveTimeout;
    }
    case OsError::Reset:
        return Reason::ConnectionReset;
    case OsError::PeerClosed:
        // Our data met a peer that had already closed: an orderly close, not a death.
        return Reason::None;
    case OsError::HostUnreachable:
        return Reason::HostUnreachable;
    case OsError::NetworkUnreachable:
        return Reason::NetworkUnreachable;
    case OsError::Other:
        return Reason::OtherError;
    case OsError::None:
        break;
    }
    return Reason::None;
}

namespace {

// The settings as the kernel applied them: sub-second values were rounded up.
struct AppliedSettings
{
    QString timing;              //!< "idle 10 s, interval 2 s"
    milliseconds userTimeout;    //!< 0: off
    QString retransmissionBound; //!< what ended a connection with data in flight
};

AppliedSettings appliedSettings(const KeepAliveOptions &applied)
{
    const auto &limits = KeepAlivePlatform::limits();
    AppliedSettings result;
    result.timing =
            QStringLiteral("idle %1, interval %2")
                    .arg(formatSeconds(KeepAlivePlatform::roundUp(applied.idle(), limits.idle)),
                         formatSeconds(
                                 KeepAlivePlatform::roundUp(applied.interval(), limits.interval)));
    // Where the platform has no per-socket bound (Wine refuses TCP_MAXRT),
    // none was applied, whatever the options derive.
    const bool settable =
            KeepAliveOptions::supportedFields().testFlag(KeepAliveOptions::Field::UserTimeout);
    result.userTimeout =
            settable ? KeepAlivePlatform::roundUp(applied.userTimeout(), limits.userTimeout) : 0ms;
    result.retransmissionBound = result.userTimeout > 0ms
            ? QStringLiteral("the %1 user timeout").arg(formatSeconds(result.userTimeout))
            : settable ? QStringLiteral("the kernel's retransmission limit (user timeout off)")
                       : QStringLiteral("the system's retransmission limit (no per-socket "
                                        "bound on this platform)");
    return result;
}

} // namespace

QString deadPeerMessage(QtKeepAlive::DeadPeerReason reason, const KeepAliveOptions &applied,
                        const DeathEvidence &evidence, const QString &qtErrorString)
{
    const AppliedSettings settings = appliedSettings(applied);
    switch (reason) {
    case Reason::KeepAliveTimeout: {
        // Windows' SIO_KEEPALIVE_VALS sends its fixed count, whatever was asked.
        const int fixed = KeepAlivePlatform::limits().fixedProbeCount;
        const int probes = evidence.health.probes.value_or(0) > 0 ? *evidence.health.probes
                : fixed > 0                                       ? fixed
                                                                  : applied.probeCount();
        return QStringLiteral("peer did not answer %1 keepalive %2 (%3)")
                .arg(probes)
                .arg(probes == 1 ? QStringLiteral("probe") : QStringLiteral("probes"),
                     settings.timing);
    }
    case Reason::RetransmissionTimeout:
        if (evidence.sendStalled)
            return QStringLiteral("peer stopped answering while it was not accepting our data "
                                  "(user timeout %1)")
                    .arg(formatSeconds(settings.userTimeout));
        return QStringLiteral("peer did not acknowledge sent data within %1 (%2)")
                .arg(settings.retransmissionBound, settings.timing);
    case Reason::ConnectionReset:
        return QStringLiteral("connection reset by peer (RST received)");
    case Reason::HostUnreachable:
        // Only with data in flight: Linux ignores ICMP errors quoting a
        // keepalive probe (its sequence number lies outside the window).
        return QStringLiteral("peer host unreachable (ICMP host unreachable until %1 ended the "
                              "connection)")
                .arg(settings.retransmissionBound);
    case Reason::NetworkUnreachable:
        return QStringLiteral("peer network unreachable (ICMP network unreachable until %1 ended "
                              "the connection)")
                .arg(settings.retransmissionBound);
    case Reason::HeartbeatTimeout:
        // The heartbeat's settings are not KeepAliveOptions: the engine takes
        // heartbeatDeathMessage() from KeepAliveHeartbeat instead.
        return QStringLiteral("peer did not answer the application heartbeat");
    case Reason::OtherError:
        return QStringLiteral("connection failed: %1").arg(qtErrorString);
    case Reason::None:
        break;
    }
    return qtErrorString;
}

QString heartbeatDeathMessage(int missed, milliseconds interval)
{
    return QStringLiteral("peer did not answer %1 application %2 (interval %3)")
            .arg(missed)
            .arg(missed == 1 ? QStringLiteral("heartbeat") : QStringLiteral("heartbeats"),
                 formatDuration(interval));
}
