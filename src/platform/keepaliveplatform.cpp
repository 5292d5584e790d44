// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
// The platform layer's Qt-facing adapter: KeepAliveOptions, ConnectionHealth
// and QString to and from the Qt-free core's plain types. No decision is
// made here.
#include "keepaliveplatform_p.h"

#include <QtNetwork/QAbstractSocket>
#include <QtNetwork/QHostAddress>

#include <algorithm>
#include <iterator>

using namespace std::chrono;
using namespace std::chrono_literals;

namespace Core = KeepAliveCore;

namespace {

constexpr bool sameTcpStates()
{
    using S = ConnectionHealth::TcpState;
    constexpr S qtStates[] = {S::Unknown,   S::Established, S::SynSent,  S::SynReceived,
                              S::FinWait1,  S::FinWait2,    S::TimeWait, S::Closed,
                              S::CloseWait, S::LastAck,     S::Listen,   S::Closing};
    constexpr Core::TcpState coreStates[] = {
            Core::TcpState::Unknown,     Core::TcpState::Established, Core::TcpState::SynSent,
            Core::TcpState::SynReceived, Core::TcpState::FinWait1,    Core::TcpState::FinWait2,
            Core::TcpState::TimeWait,    Core::TcpState::Closed,      Core::TcpState::CloseWait,
            Core::TcpState::LastAck,     Core::TcpState::Listen,      Core::TcpState::Closing};
    for (int i = 0; i < 12; ++i) {
        if (int(qtStates[i]) != int(coreStates[i]))
            return false;
    }
    return true;
}
static_assert(sameTcpStates(), "KeepAliveCore::TcpState mirrors ConnectionHealth::TcpState");

//! Bit for bit (see the static_assert in keepaliveoptions.cpp).
KeepAliveOptions::Fields qtFields(Core::Fields fields)
{
    return KeepAliveOptions::Fields::fromInt(int(fields));
}

Core::Settings settings(const KeepAliveOptions &options)
{
    Core::Settings settings;
    settings.enabled = options.isEnabled();
    settings.idle = options.idle();
    settings.interval = options.interval();
    settings.probeCount = options.probeCount();
    settings.userTimeout = options.userTimeout();
    settings.userTimeoutExplicit =
            options.userTimeoutMode() == KeepAliveOptions::UserTimeoutMode::Explicit;
    return settings;
}

EffectiveKeepAliveOptions effectiveOptions(const Core::ReadBack &read)
{
    EffectiveKeepAliveOptions options;
    options.enabled = read.enabled;
    options.idle = read.idle;
    options.interval = read.interval;
    options.probeCount = read.probeCount;
    options.userTimeout = read.userTimeout;
    return options;
}

ConnectionHealth connectionHealth(const Core::Health &core)
{
    ConnectionHealth health;
    health.state = ConnectionHealth::TcpState(int(core.state));
    health.rtt = core.rtt;
    health.rttVariance = core.rttVariance;
    health.retransmissionTimeout = core.retransmissionTimeout;
    health.retransmits = core.retransmits;
    health.totalRetransmits = core.totalRetransmits;
    health.probes = core.probes;
    health.backoff = core.backoff;
    health.unackedSegments = core.unackedSegments;
    health.notSentBytes = core.notSentBytes;
    health.sinceLastDataReceived = core.sinceLastDataReceived;
    health.sinceLastDataSent = core.sinceLastDataSent;
    health.sinceLastAckReceived = core.sinceLastAckReceived;
    return health;
}

} // namespace

namespace KeepAlivePlatform {

const Limits &limits()
{
    return Core::profile().limits;
}

ApplyResult apply(qintptr descriptor, const KeepAliveOptions &options)
{
    const Core::ApplyResult result =
            Core::apply(descriptor, Core::plan(settings(options), Core::profile()));
    return {qtFields(result.refused), QString::fromStdString(Core::message(result))};
}

EffectiveKeepAliveOptions readBack(qintptr descriptor)
{
    return effectiveOptions(Core::readBack(descriptor));
}

bool setUserTimeout(qintptr descriptor, milliseconds timeout)
{
    return Core::setUserTimeout(descriptor, timeout);
}

bool hasPendingError(qintptr descriptor)
{
    return Core::hasPendingError(descriptor);
}

QString whyNotTcp(qintptr descriptor)
{
    return QString::fromStdString(Core::describe(descriptor, Core::classifyDescriptor(descriptor)));
}

OsError takePendingError(qintptr descriptor)
{
    return Core::takePendingError(descriptor);
}

ConnectionHealth health(qintptr descriptor)
{
    return connectionHealth(Core::health(descriptor));
}

namespace {

bool sameEnd(const Core::Endpoint &end, const QHostAddress &address, quint16 port)
{
    if (end.port != port)
        return false;
    QHostAddress kernel;
    if (end.ipVersion == 4) {
        kernel.setAddress(quint32(end.address[0]) << 24 | quint32(end.address[1]) << 16
                          | quint32(end.address[2]) << 8 | quint32(end.address[3]));
    } else {
        Q_IPV6ADDR bytes;
        std::copy(std::begin(end.address), std::end(end.address), std::begin(bytes.c));
        kernel.setAddress(bytes);
    }
    // Qt reports an IPv4 peer of a dual-stack socket as ::ffff:a.b.c.d.
    return kernel.isEqual(address, QHostAddress::TolerantConversion);
}

} // namespace

bool isConnectionOf(qintptr descriptor, const QAbstractSocket *socket)
{
    // Without a peer (a connection reset before the application handed it
    // to setSocketDescriptor()) Qt knows no peer either: the local end decides.
    const std::optional<Core::Endpoints> ends = Core::endpoints(descriptor);
    return ends && sameEnd(ends->local, socket->localAddress(), socket->localPort())
            && (!ends->peer || sameEnd(*ends->peer, socket->peerAddress(), socket->peerPort()));
}

} // namespace KeepAlivePlatform
