// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "effectivekeepaliveoptions.h"

#include "keepaliveformat_p.h"

#include <QtCore/QDebug>

using namespace std::chrono;

namespace {

template<typename T, typename Format>
QString field(const std::optional<T> &value, Format format)
{
    return value ? format(*value) : QStringLiteral("unknown");
}

} // namespace

KeepAliveOptions::Fields EffectiveKeepAliveOptions::knownFields() const
{
    using Field = KeepAliveOptions::Field;
    KeepAliveOptions::Fields known;
    known.setFlag(Field::Enabled, enabled.has_value());
    known.setFlag(Field::Idle, idle.has_value());
    known.setFlag(Field::Interval, interval.has_value());
    known.setFlag(Field::ProbeCount, probeCount.has_value());
    known.setFlag(Field::UserTimeout, userTimeout.has_value());
    return known;
}

bool operator==(const EffectiveKeepAliveOptions &a, const EffectiveKeepAliveOptions &b)
{
    return a.enabled == b.enabled && a.idle == b.idle && a.interval == b.interval
            && a.probeCount == b.probeCount && a.userTimeout == b.userTimeout;
}

QDebug operator<<(QDebug debug, const EffectiveKeepAliveOptions &options)
{
    const QDebugStateSaver saver(debug);
    const auto userTimeout = [](milliseconds value) {
        return value.count() == 0 ? QStringLiteral("off") : formatDuration(value);
    };
    const char *enabled =
            options.enabled ? (*options.enabled ? "enabled" : "disabled") : "enabled unknown";
    debug.nospace().noquote() << "EffectiveKeepAliveOptions(" << enabled << ", idle "
                              << field(options.idle, formatDuration) << ", interval "
                              << field(options.interval, formatDuration) << ", probes "
                              << field(options.probeCount,
                                       [](int count) { return QString::number(count); })
                              << ", user timeout " << field(options.userTimeout, userTimeout)
                              << ')';
    return debug;
}
