// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "keepaliveoptions.h"

#include "keepaliveformat_p.h"
#include "keepaliveplatformcore_p.h"

#include <QtCore/QDebug>
#include <QtCore/qnumeric.h>

#include <algorithm>

// The platform core's fields are these, bit for bit (it has no Qt to name them).
static_assert(int(KeepAliveCore::Field::Enabled) == int(KeepAliveOptions::Field::Enabled)
                      && int(KeepAliveCore::Field::Idle) == int(KeepAliveOptions::Field::Idle)
                      && int(KeepAliveCore::Field::Interval)
                              == int(KeepAliveOptions::Field::Interval)
                      && int(KeepAliveCore::Field::ProbeCount)
                              == int(KeepAliveOptions::Field::ProbeCount)
                      && int(KeepAliveCore::Field::UserTimeout)
                              == int(KeepAliveOptions::Field::UserTimeout),
              "KeepAliveCore::Field mirrors KeepAliveOptions::Field");

using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

QString rangeError(const QString &field, const QString &value, const QString &minimum,
                   const QString &maximum, const QString &note = QString())
{
    QString message =
            QStringLiteral("%1 %2 is out of range %3..%4").arg(field, value, minimum, maximum);
    if (!note.isEmpty())
        message += QStringLiteral(" (%1)").arg(note);
    return message;
}

QString roundingNote(milliseconds granularity)
{
    if (granularity == 1s)
        return QStringLiteral("sub-second values are rounded up to whole seconds on this platform");
    return QStringLiteral("values are rounded up to multiples of %1 on this platform")
            .arg(formatDuration(granularity));
}

// limit.minimum is the smallest value accepted as given, before rounding up.
QString durationError(const QString &field, milliseconds value,
                      const KeepAliveCore::DurationLimit &limit,
                      const QString &whyThisMinimum = QString())
{
    const bool belowMinimum = value < limit.minimum;
    if (!belowMinimum && KeepAliveCore::roundUp(value, limit) <= limit.maximum)
        return {};
    QString note;
    if (belowMinimum && !whyThisMinimum.isEmpty())
        note = whyThisMinimum;
    else if (limit.granularity > 1ms)
        note = roundingNote(limit.granularity);
    return rangeError(field, formatDuration(value), formatDuration(limit.minimum),
                      formatDuration(limit.maximum), note);
}

// Saturating, for any signs: the getters also run on rejected values
// (validationError() names them), where plain arithmetic would overflow.
milliseconds saturatingAdd(milliseconds a, milliseconds b)
{
    milliseconds::rep sum;
    if (qAddOverflow(a.count(), b.count(), &sum))
        return b.count() > 0 ? milliseconds::max() : milliseconds::min();
    return milliseconds(sum);
}

milliseconds saturatingMultiply(milliseconds a, milliseconds::rep factor)
{
    milliseconds::rep product;
    if (qMulOverflow(a.count(), factor, &product))
        return (a.count() < 0) == (factor < 0) ? milliseconds::max() : milliseconds::min();
    return milliseconds(product);
}

} // namespace

KeepAliveOptions::KeepAliveOptions()
    : m_idle(60s),
      m_interval(10s),
      m_userTimeout(0ms),
      m_probeCount(3),
      m_userTimeoutMode(UserTimeoutMode::Automatic),
      m_enabled(true)
{
}

KeepAliveOptions &KeepAliveOptions::setEnabled(bool enabled)
{
    m_enabled = enabled;
    return *this;
}

bool KeepAliveOptions::isEnabled() const
{
    return m_enabled;
}

KeepAliveOptions &KeepAliveOptions::setIdle(milliseconds idle)
{
    m_idle = idle;
    return *this;
}

milliseconds KeepAliveOptions::idle() const
{
    return m_idle;
}

KeepAliveOptions &KeepAliveOptions::setInterval(milliseconds interval)
{
    m_interval = interval;
    return *this;
}

milliseconds KeepAliveOptions::interval() const
{
    return m_interval;
}

KeepAliveOptions &KeepAliveOptions::setProbeCount(int count)
{
    m_probeCount = count;
    return *this;
}

int KeepAliveOptions::probeCount() const
{
    return m_probeCount;
}

KeepAliveOptions &KeepAliveOptions::setUserTimeout(milliseconds timeout)
{
    m_userTimeout = timeout;
    m_userTimeoutMode = UserTimeoutMode::Explicit;
    return *this;
}

KeepAliveOptions &KeepAliveOptions::setUserTimeoutMode(UserTimeoutMode mode)
{
    m_userTimeoutMode = mode;
    return *this;
}

KeepAliveOptions::UserTimeoutMode KeepAliveOptions::userTimeoutMode() const
{
    return m_userTimeoutMode;
}

milliseconds KeepAliveOptions::userTimeout() const
{
    switch (m_userTimeoutMode) {
    case UserTimeoutMode::Explicit:
        return m_userTimeout;
    case UserTimeoutMode::Off:
        return 0ms;
    case UserTimeoutMode::Automatic:
        break;
    }
    if (!m_enabled)
        return 0ms;
    const auto &limits = KeepAliveCore::profile().limits;
    const int probes = limits.fixedProbeCount > 0 ? limits.fixedProbeCount : m_probeCount;
    return saturatingAdd(
            KeepAliveCore::roundUp(m_idle, limits.idle),
            saturatingMultiply(KeepAliveCore::roundUp(m_interval, limits.interval), probes));
}

milliseconds KeepAliveOptions::detectionBound() const
{
    // Options that fail validation are never applied, so they bound nothing.
    if (!m_enabled || !isValid())
        return milliseconds::max();
    const auto &limits = KeepAliveCore::profile().limits;
    const milliseconds userTimeout =
            KeepAliveCore::roundUp(this->userTimeout(), limits.userTimeout);
    // Without a retransmission bound (Off, or none per socket on this
    // platform, e.g. FreeBSD) data in flight is not bounded by us.
    if (userTimeout <= 0ms || !supportedFields().testFlag(Field::UserTimeout))
        return milliseconds::max();
    // A peer that dies behind a zero window is bounded only where the
    // retransmission bound also ends the persist timer (not macOS).
    if (!limits.userTimeoutCoversZeroWindow)
        return milliseconds::max();
    const milliseconds idle = KeepAliveCore::roundUp(m_idle, limits.idle);
    const milliseconds interval = KeepAliveCore::roundUp(m_interval, limits.interval);
    const int probes = limits.fixedProbeCount > 0 ? limits.fixedProbeCount : m_probeCount;

    // Idle: without a user timeout the peer dies after the last of `probes`
    // probes; with one (Linux), at the first probe tick past the user timeout
    // but never before the first probe. The larger of both holds everywhere.
    const milliseconds byCount = saturatingAdd(idle, saturatingMultiply(interval, probes));
    // Validated: idle and interval are positive.
    const milliseconds past = userTimeout - idle;
    const milliseconds::rep ticks = past <= 0ms
            ? 1
            : past.count() / interval.count() + (past.count() % interval.count() != 0);
    const milliseconds byUserTimeout = saturatingAdd(idle, saturatingMultiply(interval, ticks));
    // Busy: unacknowledged data is bounded by the user timeout itself.
    return std::max({byCount, byUserTimeout, userTimeout});
}

milliseconds KeepAliveOptions::idleDetectionBound() const
{
    if (!m_enabled || !isValid())
        return milliseconds::max();
    const auto &limits = KeepAliveCore::profile().limits;
    const milliseconds idle = KeepAliveCore::roundUp(m_idle, limits.idle);
    const milliseconds interval = KeepAliveCore::roundUp(m_interval, limits.interval);
    const int probes = limits.fixedProbeCount > 0 ? limits.fixedProbeCount : m_probeCount;
    const milliseconds byCount = saturatingAdd(idle, saturatingMultiply(interval, probes));
    // A user timeout is applied only where the platform has one per socket.
    const milliseconds userTimeout = supportedFields().testFlag(Field::UserTimeout)
            ? KeepAliveCore::roundUp(this->userTimeout(), limits.userTimeout)
            : 0ms;
    if (userTimeout <= idle)
        return byCount;
    const milliseconds past = userTimeout - idle;
    const milliseconds::rep ticks =
            past.count() / interval.count() + (past.count() % interval.count() != 0);
    return std::max(byCount, saturatingAdd(idle, saturatingMultiply(interval, ticks)));
}

QString KeepAliveOptions::validationError() const
{
    const auto &limits = KeepAliveCore::profile().limits;
    if (QString error = durationError(QStringLiteral("idle"), m_idle, limits.idle); !error.isEmpty())
        return error;
    if (QString error = durationError(QStringLiteral("interval"), m_interval, limits.interval);
        !error.isEmpty())
        return error;
    if (m_probeCount < limits.minimumProbeCount || m_probeCount > limits.maximumProbeCount)
        return rangeError(QStringLiteral("probe count"), QString::number(m_probeCount),
                          QString::number(limits.minimumProbeCount),
                          QString::number(limits.maximumProbeCount));
    if (m_userTimeoutMode == UserTimeoutMode::Explicit)
        return durationError(
                QStringLiteral("user timeout"), m_userTimeout, limits.userTimeout,
                QStringLiteral("a shorter bound cuts off live peers that pause reading"));
    if (m_userTimeoutMode == UserTimeoutMode::Automatic && m_enabled) {
        const milliseconds automatic = userTimeout();
        if (KeepAliveCore::roundUp(automatic, limits.userTimeout) > limits.userTimeout.maximum)
            return rangeError(
                    QStringLiteral("automatic user timeout (idle + interval × probe count)"),
                    formatDuration(automatic), formatDuration(limits.userTimeout.minimum),
                    formatDuration(limits.userTimeout.maximum),
                    QStringLiteral("lower the values or set the user timeout explicitly"));
    }
    return {};
}

bool KeepAliveOptions::isValid() const
{
    return validationError().isEmpty();
}

KeepAliveOptions::Fields KeepAliveOptions::supportedFields()
{
    return Fields::fromInt(int(KeepAliveCore::supportedFields(KeepAliveCore::profile().options)));
}

KeepAliveOptions::Fields KeepAliveOptions::readableFields()
{
    return Fields::fromInt(int(KeepAliveCore::readableFields(KeepAliveCore::profile().options)));
}

bool operator==(const KeepAliveOptions &a, const KeepAliveOptions &b)
{
    return a.isEnabled() == b.isEnabled() && a.idle() == b.idle() && a.interval() == b.interval()
            && a.probeCount() == b.probeCount() && a.userTimeoutMode() == b.userTimeoutMode()
            && a.userTimeout() == b.userTimeout()
            // The explicit value comes back with setUserTimeoutMode(Explicit).
            && a.m_userTimeout == b.m_userTimeout;
}

QDebug operator<<(QDebug debug, const KeepAliveOptions &options)
{
    const QDebugStateSaver saver(debug);
    debug.nospace().noquote() << "KeepAliveOptions("
                              << (options.isEnabled() ? "enabled" : "disabled") << ", idle "
                              << formatDuration(options.idle()) << ", interval "
                              << formatDuration(options.interval()) << ", probes "
                              << options.probeCount() << ", user timeout ";
    switch (options.userTimeoutMode()) {
    case KeepAliveOptions::UserTimeoutMode::Automatic:
        debug << "automatic " << formatDuration(options.userTimeout());
        break;
    case KeepAliveOptions::UserTimeoutMode::Explicit:
        debug << formatDuration(options.userTimeout());
        break;
    case KeepAliveOptions::UserTimeoutMode::Off:
        debug << "off";
        break;
    }
    debug << ')';
    return debug;
}
