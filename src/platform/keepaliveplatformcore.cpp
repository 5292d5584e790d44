// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
// The platform core's platform-independent part: which options to set with
// which values (plan()), executing a plan, reading back, messages. Only the
// C++17 standard library: no OS header, no Qt.
#include "keepaliveplatformcore_p.h"

#include <algorithm>
#include <array>
#include <climits>

using namespace std::chrono;
using namespace std::chrono_literals;

namespace KeepAliveCore {

namespace {

// A duration in the option's unit: rounded up to the platform's granularity,
// and seconds rounded up again (never truncated to an EINVAL-ing 0).
std::int64_t durationValue(milliseconds value, const DurationLimit &limit, Unit unit)
{
    const milliseconds rounded = roundUp(value, limit);
    if (unit == Unit::Seconds)
        return ceil<seconds>(rounded).count();
    return rounded.count();
}

milliseconds fromUnit(std::int64_t value, Unit unit)
{
    return unit == Unit::Seconds ? milliseconds(seconds(value)) : milliseconds(value);
}

void add(Plan &steps, Field field, const SocketOption &option, std::int64_t value)
{
    if (!option.name)
        return;
    Step step;
    step.fields = Fields(field);
    step.name = option.name;
    step.level = option.level;
    step.option = option.option;
    step.value = value;
    steps.push_back(step);
}

void refuse(Plan &steps, const char *name, milliseconds value, const char *reason)
{
    Step step;
    step.action = Step::Action::Refuse;
    step.fields = Fields(Field::UserTimeout);
    step.name = name;
    step.value = value.count();
    step.reason = reason;
    steps.push_back(step);
}

void addUserTimeout(Plan &steps, milliseconds timeout, bool explicitly, const Profile &profile)
{
    const OptionTable &options = profile.options;
    const SocketOption &option = options.userTimeout;
    if (!option.name) {
        // Automatic mode only bounds retransmissions where the platform can:
        // not applied, not an error (readBack() shows it unknown). A bound the
        // caller asked for explicitly is reported, never silently dropped.
        if (explicitly && timeout > 0ms)
            refuse(steps, "user timeout", timeout, options.whyNoUserTimeout);
        return;
    }
    if (timeout > 0ms)
        add(steps, Field::UserTimeout, option,
            durationValue(timeout, profile.limits.userTimeout, option.unit));
    else if (options.userTimeoutOff)
        add(steps, Field::UserTimeout, option, *options.userTimeoutOff);
    else
        refuse(steps, option.name, 0ms, options.whyNoUserTimeoutOff);
}

struct Entry
{
    Field field;
    const SocketOption *option;
};

std::array<Entry, 5> entries(const OptionTable &options)
{
    return {{{Field::Enabled, &options.enabled},
             {Field::Idle, &options.idle},
             {Field::Interval, &options.interval},
             {Field::ProbeCount, &options.probeCount},
             {Field::UserTimeout, &options.userTimeout}}};
}

} // namespace

milliseconds roundUp(milliseconds value, const DurationLimit &limit)
{
    const auto step = limit.granularity.count();
    if (value.count() <= 0 || step <= 1)
        return value;
    if (value.count() > milliseconds::max().count() - (step - 1))
        return milliseconds::max();
    return milliseconds((value.count() + step - 1) / step * step);
}

Fields supportedFields(const OptionTable &options)
{
    Fields fields = options.keepAliveValues ? Field::Idle | Field::Interval : 0;
    for (const auto &[field, option] : entries(options)) {
        if (option->name)
            fields |= field;
    }
    return fields;
}

Fields readableFields(const OptionTable &options)
{
    // SIO_KEEPALIVE_VALS is write-only: idle and interval are not readable then.
    Fields fields = 0;
    for (const auto &[field, option] : entries(options)) {
        if (option->name && option->readable)
            fields |= field;
    }
    return fields;
}

Plan plan(const Settings &settings, const Profile &profile)
{
    const OptionTable &options = profile.options;
    const Limits &limits = profile.limits;
    Plan steps;
    add(steps, Field::Enabled, options.enabled, settings.enabled ? 1 : 0);
    if (options.keepAliveValues) {
        // One call sets both values (neither alone) and switches keepalive
        // on, so it is skipped while keepalive is off. The count cannot be set.
        if (settings.enabled) {
            Step step;
            step.action = Step::Action::SetKeepAliveValues;
            step.fields = Field::Idle | Field::Interval;
            step.name = "SIO_KEEPALIVE_VALS";
            step.value = durationValue(settings.idle, limits.idle, Unit::Milliseconds);
            step.interval = durationValue(settings.interval, limits.interval, Unit::Milliseconds);
            steps.push_back(step);
        }
    } else {
        add(steps, Field::Idle, options.idle,
            durationValue(settings.idle, limits.idle, options.idle.unit));
        add(steps, Field::Interval, options.interval,
            durationValue(settings.interval, limits.interval, options.interval.unit));
        add(steps, Field::ProbeCount, options.probeCount, settings.probeCount);
    }
    addUserTimeout(steps, settings.userTimeout, settings.userTimeoutExplicit, profile);
    return steps;
}

Plan planUserTimeout(milliseconds timeout, const Profile &profile)
{
    Plan steps;
    addUserTimeout(steps, timeout, true, profile);
    return steps;
}

ApplyResult apply(NativeHandle handle, const Plan &plan)
{
    ApplyResult result;
    for (const Step &step : plan) {
        int error = 0;
        switch (step.action) {
        case Step::Action::SetOption:
            error = Native::setOption(handle, step.level, step.option, step.value);
            if (error == 0)
                continue;
            break;
        case Step::Action::SetKeepAliveValues:
            error = Native::setKeepAliveValues(handle, step.value, step.interval);
            if (error == 0)
                continue;
            break;
        case Step::Action::Refuse:
            break;
        }
        result.refused |= step.fields;
        result.refusals.push_back({step, error});
    }
    return result;
}

std::string describe(const Refusal &refusal)
{
    const Step &step = refusal.step;
    std::string text = std::string(step.name) + " = ";
    switch (step.action) {
    case Step::Action::SetOption:
        text += std::to_string(step.value);
        break;
    case Step::Action::SetKeepAliveValues:
        text += "{on, " + std::to_string(step.value) + " ms, " + std::to_string(step.interval)
                + " ms}";
        break;
    case Step::Action::Refuse:
        text += step.value > 0 ? std::to_string(step.value) + " ms" : std::string("system default");
        break;
    }
    text += " refused: ";
    text += step.action == Step::Action::Refuse ? std::string(step.reason ? step.reason : "")
                                                : errorText(refusal.error);
    return text;
}

std::string message(const ApplyResult &result)
{
    std::string text;
    for (const Refusal &refusal : result.refusals) {
        if (!text.empty())
            text += "; ";
        text += describe(refusal);
    }
    return text;
}

std::string describe(NativeHandle handle, DescriptorKind kind)
{
    const auto descriptor = [handle](const char *what) {
        return "descriptor " + std::to_string(handle) + " " + what;
    };
    switch (kind) {
    case DescriptorKind::TcpConnection:
        break;
    case DescriptorKind::Invalid:
        return descriptor("is not an open descriptor");
    case DescriptorKind::NotASocket:
        return descriptor("is not a socket");
    case DescriptorKind::Listening:
        return descriptor("is a listening TCP socket, not a connected TCP socket");
    case DescriptorKind::Unconnected:
        return descriptor("is a TCP socket that is not connected");
    case DescriptorKind::Udp:
        return descriptor("is a UDP socket, not a TCP socket");
    case DescriptorKind::Local:
        return descriptor("is a UNIX-domain socket, not a TCP socket");
    case DescriptorKind::Other:
        return descriptor("is a socket that is neither TCP, UDP nor UNIX-domain");
    }
    return {};
}

ReadBack readBack(NativeHandle handle, const OptionTable &options)
{
    auto read = [handle](const SocketOption &option) -> std::optional<std::int64_t> {
        std::int64_t value = 0;
        if (!option.name || !Native::getOption(handle, option.level, option.option, &value))
            return std::nullopt;
        return value;
    };
    // Options never set read as the system default.
    ReadBack result;
    if (const auto value = read(options.enabled))
        result.enabled = *value != 0;
    if (const auto value = read(options.idle))
        result.idle = fromUnit(*value, options.idle.unit);
    if (const auto value = read(options.interval))
        result.interval = fromUnit(*value, options.interval.unit);
    if (const auto value = read(options.probeCount))
        result.probeCount = int(std::min<std::int64_t>(*value, INT_MAX));
    if (const auto value = read(options.userTimeout)) {
        // Where "off" is a value like any other (Windows writes back a fresh
        // socket's TCP_MAXRT), the kernel holds the same either way: that
        // value is a bound the system enforces and reads back as such, so an
        // explicit bound equal to it never reads as "off".
        const bool off = *value <= 0 || *value == options.userTimeoutForever;
        result.userTimeout = off ? 0ms : fromUnit(*value, options.userTimeout.unit);
    }
    return result;
}

ReadBack readBack(NativeHandle handle)
{
    return readBack(handle, profile().options);
}

OsError takePendingError(NativeHandle handle)
{
    const SocketOption &option = profile().options.socketError;
    std::int64_t error = 0;
    if (!Native::getOption(handle, option.level, option.option, &error))
        return OsError::None;
    return osErrorFromCode(int(error));
}

bool setUserTimeout(NativeHandle handle, milliseconds timeout)
{
    return KeepAliveCore::apply(handle, planUserTimeout(timeout, profile())).refused == 0;
}

} // namespace KeepAliveCore
