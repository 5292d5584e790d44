// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT

#include "keepalivetool.h"

#include <QtCore/QCoreApplication>
#include <QtCore/QDateTime>
#include <QtCore/QJsonDocument>
#include <QtCore/QLoggingCategory>
#include <QtCore/QRegularExpression>
#include <QtCore/QTextStream>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#ifdef Q_OS_WIN
#  include <QtCore/QPointer>

#  include <windows.h>
#endif

#ifdef Q_OS_UNIX
#  include <QtCore/QSocketNotifier>

#  include <cerrno>
#  include <csignal>
#  include <fcntl.h>
#  include <unistd.h>
#endif

using namespace std::chrono;

namespace KeepAliveTool {

QString exitCodeHelp(bool server)
{
    if (server)
        return QStringLiteral("Exit codes:\n"
                              "  0  stopped with SIGINT or SIGTERM\n"
                              "  2  bad usage: an invalid option or value; nothing was started\n"
                              "  3  could not listen (address not local, port in use)");
    return QStringLiteral("Exit codes:\n"
                          "  0  the connection ended in an orderly way: the peer closed it,\n"
                          "     or you stopped the client with SIGINT or SIGTERM\n"
                          "  1  dead peer, whatever the reason (printed with the evidence)\n"
                          "  2  bad usage: an invalid option or value, an unresolvable host;\n"
                          "     nothing was sent\n"
                          "  3  could not connect (refused, unreachable, no answer)");
}

std::optional<milliseconds> parseDuration(const QString &option, const QString &text,
                                          UsageError *error, Sign sign)
{
    static const QRegularExpression pattern(
            QStringLiteral("^([+-]?[0-9]+(?:\\.[0-9]*)?|[+-]?\\.[0-9]+)(ms|s|min|h)?$"));
    const QRegularExpressionMatch match = pattern.match(text.trimmed());
    if (!match.hasMatch()) {
        *error = {QStringLiteral("--%1 \"%2\": not a duration (seconds, e.g. 2 or 0.5, or with a "
                                 "unit: 500ms, 1.5s, 2min, 1h)")
                          .arg(option, text)};
        return std::nullopt;
    }
    const double number = match.captured(1).toDouble();
    const QString unit = match.captured(2);
    double factor = 1000.0;
    if (unit == QLatin1String("ms"))
        factor = 1.0;
    else if (unit == QLatin1String("min"))
        factor = 60000.0;
    else if (unit == QLatin1String("h"))
        factor = 3600000.0;
    const double ms = std::ceil(number * factor);
    if (sign == Sign::Positive && ms <= 0.0) {
        *error = {QStringLiteral("--%1 %2: must be greater than 0").arg(option, text)};
        return std::nullopt;
    }
    // Far beyond every platform's range, but still exact in a double and in qint64.
    constexpr double Largest = 9007199254740992.0; // 2^53 ms, about 285,000 years
    if (!std::isfinite(ms) || std::abs(ms) > Largest) {
        *error = {QStringLiteral("--%1 %2: too large").arg(option, text)};
        return std::nullopt;
    }
    return milliseconds(qint64(ms));
}

std::optional<qint64> parseInteger(const QString &option, const QString &text, UsageError *error)
{
    bool ok = false;
    const qint64 value = text.trimmed().toLongLong(&ok);
    if (!ok) {
        *error = {QStringLiteral("--%1 \"%2\": not a whole number").arg(option, text)};
        return std::nullopt;
    }
    return value;
}

std::optional<HeartbeatSetting> parseHeartbeatSetting(const QString &option, const QString &text,
                                                      UsageError *error)
{
    const QStringList parts = text.split(QLatin1Char(','));
    if (parts.size() > 2) {
        *error = {QStringLiteral("--%1 \"%2\": expected INTERVAL[,MAXMISSED]").arg(option, text)};
        return std::nullopt;
    }
    const std::optional<milliseconds> interval =
            parseDuration(option, parts.at(0), error, Sign::Any);
    if (!interval)
        return std::nullopt;
    HeartbeatSetting setting{*interval, std::nullopt};
    if (parts.size() == 2) {
        const std::optional<qint64> missed = parseInteger(option, parts.at(1), error);
        if (!missed)
            return std::nullopt;
        setting.maxMissed = int(qBound(qint64(std::numeric_limits<int>::min()), *missed,
                                       qint64(std::numeric_limits<int>::max())));
    }
    return setting;
}

QString applyHeartbeatSetting(const HeartbeatSetting &setting, KeepAliveHeartbeat *heartbeat)
{
    if (!heartbeat->setInterval(setting.interval)
        || (setting.maxMissed && !heartbeat->setMaxMissed(*setting.maxMissed)))
        return heartbeat->errorString();
    return QString();
}

QString roundTripSummary(const QList<const KeepAliveHeartbeat *> &heartbeats, QJsonObject *json)
{
    std::vector<double> ms;
    for (const KeepAliveHeartbeat *heartbeat : heartbeats) {
        if (heartbeat->roundTripTime() >= microseconds(0))
            ms.push_back(double(heartbeat->roundTripTime().count()) / 1e3);
    }
    if (ms.empty())
        return QString();
    std::sort(ms.begin(), ms.end());
    const auto at = [&ms](double share) { return ms.at(size_t(share * double(ms.size() - 1))); };
    json->insert(QStringLiteral("roundTripMs"),
                 QJsonObject{{QStringLiteral("clients"), qint64(ms.size())},
                             {QStringLiteral("min"), ms.front()},
                             {QStringLiteral("median"), at(0.5)},
                             {QStringLiteral("p90"), at(0.9)},
                             {QStringLiteral("max"), ms.back()}});
    return QStringLiteral(", round trip ms min/median/p90/max %1/%2/%3/%4 over %5")
            .arg(ms.front(), 0, 'f', 2)
            .arg(at(0.5), 0, 'f', 2)
            .arg(at(0.9), 0, 'f', 2)
            .arg(ms.back(), 0, 'f', 2)
            .arg(ms.size());
}

std::optional<QByteArray> parsePayload(const QString &option, const QString &text, UsageError *error)
{
    const QByteArray utf8 = text.toUtf8();
    QByteArray payload;
    for (qsizetype i = 0; i < utf8.size(); ++i) {
        if (utf8.at(i) != '\\') {
            payload += utf8.at(i);
            continue;
        }
        const char next = i + 1 < utf8.size() ? utf8.at(i + 1) : '\0';
        bool ok = true;
        if (next == 'n') {
            payload += '\n';
        } else if (next == 'r') {
            payload += '\r';
        } else if (next == 't') {
            payload += '\t';
        } else if (next == '\\') {
            payload += '\\';
        } else if (next == 'x') {
            payload += char(utf8.mid(i + 2, 2).toUInt(&ok, 16));
            ok = ok && i + 3 < utf8.size();
            i += 2;
        } else {
            ok = false;
        }
        if (!ok) {
            *error = {QStringLiteral("--%1 \"%2\": invalid escape (use \\n, \\r, \\t, \\\\ "
                                     "or \\xHH)")
                              .arg(option, text)};
            return std::nullopt;
        }
        ++i;
    }
    if (payload.isEmpty()) {
        *error = {QStringLiteral("--%1 \"%2\": must not be empty").arg(option, text)};
        return std::nullopt;
    }
    return payload;
}

QString quoted(const QByteArray &payload)
{
    QString text = QStringLiteral("\"");
    for (char c : payload) {
        if (c == '\n')
            text += QLatin1String("\\n");
        else if (c == '\r')
            text += QLatin1String("\\r");
        else if (c == '\t')
            text += QLatin1String("\\t");
        else if (c == '"' || c == '\\')
            text.append(QLatin1Char('\\')).append(QLatin1Char(c));
        else if (c >= 0x20 && c < 0x7f)
            text += QLatin1Char(c);
        else
            text += QStringLiteral("\\x%1").arg(uint(uchar(c)), 2, 16, QLatin1Char('0'));
    }
    return text + QLatin1Char('"');
}

QList<QCommandLineOption> keepAliveCommandLineOptions()
{
    return {
            {{QStringLiteral("d"), QStringLiteral("idle")},
             QStringLiteral("Time without traffic before the first keepalive probe (TCP_KEEPIDLE). "
                            "Default 60 s."),
             QStringLiteral("duration")},
            {{QStringLiteral("i"), QStringLiteral("interval")},
             QStringLiteral("Time between unanswered probes (TCP_KEEPINTVL). Default 10 s."),
             QStringLiteral("duration")},
            {{QStringLiteral("c"), QStringLiteral("count")},
             QStringLiteral("Unanswered probes before the peer is dead (TCP_KEEPCNT). Default 3."),
             QStringLiteral("probes")},
            {{QStringLiteral("u"), QStringLiteral("user-timeout")},
             QStringLiteral("How long sent data may stay unacknowledged (TCP_USER_TIMEOUT): "
                            "auto (idle + interval x count, the default), off, or a duration "
                            "(at least 1 s)."),
             QStringLiteral("auto|off|duration")},
    };
}

QList<QCommandLineOption> listenCommandLineOptions(quint16 defaultPort)
{
    return {
            {{QStringLiteral("address"), QStringLiteral("listen")},
             QStringLiteral("Address to listen on (default 127.0.0.1)."),
             QStringLiteral("address")},
            {QStringLiteral("port"),
             QStringLiteral("Port to listen on (default %1; 0 picks a free one).").arg(defaultPort),
             QStringLiteral("port")},
    };
}

std::optional<UsageError> parseListen(const QCommandLineParser &parser,
                                      const QString &addressOption, QHostAddress *address,
                                      quint16 *port)
{
    if (parser.isSet(addressOption)) {
        const QString text = parser.value(addressOption);
        const QHostAddress parsed(text);
        if (parsed.isNull())
            return UsageError{QStringLiteral("--%1 \"%2\": not an IP address (e.g. 127.0.0.1, "
                                             "0.0.0.0, ::1)")
                                      .arg(addressOption, text)};
        *address = parsed;
    }
    if (parser.isSet(QStringLiteral("port"))) {
        const QString text = parser.value(QStringLiteral("port"));
        bool ok = false;
        const uint number = text.toUInt(&ok);
        if (!ok || number > 65535)
            return UsageError{QStringLiteral("--port \"%1\": not in 0..65535").arg(text)};
        *port = quint16(number);
    }
    return std::nullopt;
}

QString endpoint(const QHostAddress &address, quint16 port)
{
    return address.protocol() == QAbstractSocket::IPv6Protocol
            ? QStringLiteral("[%1]:%2").arg(address.toString()).arg(port)
            : QStringLiteral("%1:%2").arg(address.toString()).arg(port);
}

std::optional<KeepAliveOptions> keepAliveOptionsFromCommandLine(const QCommandLineParser &parser,
                                                                UsageError *error)
{
    KeepAliveOptions options;
    // The library's validation decides, also on zero and negative values; the
    // option just set is the one to name (the automatic user timeout,
    // idle + interval x count, has a range too).
    const auto check = [&](const QString &option) {
        const QString invalid = options.validationError();
        if (invalid.isEmpty())
            return true;
        *error = {QStringLiteral("--%1 %2: %3").arg(option, parser.value(option), invalid)};
        return false;
    };
    for (const QString &option : {QStringLiteral("idle"), QStringLiteral("interval")}) {
        if (!parser.isSet(option))
            continue;
        const std::optional<milliseconds> value =
                parseDuration(option, parser.value(option), error, Sign::Any);
        if (!value)
            return std::nullopt;
        if (option == QLatin1String("idle"))
            options.setIdle(*value);
        else
            options.setInterval(*value);
        if (!check(option))
            return std::nullopt;
    }
    if (parser.isSet(QStringLiteral("count"))) {
        const QString option = QStringLiteral("count");
        const std::optional<qint64> count = parseInteger(option, parser.value(option), error);
        if (!count)
            return std::nullopt;
        if (*count < std::numeric_limits<int>::min() || *count > std::numeric_limits<int>::max()) {
            *error = {QStringLiteral("--count %1: too large").arg(parser.value(option))};
            return std::nullopt;
        }
        options.setProbeCount(int(*count));
        if (!check(option))
            return std::nullopt;
    }
    if (parser.isSet(QStringLiteral("user-timeout"))) {
        const QString option = QStringLiteral("user-timeout");
        const QString text = parser.value(option);
        if (text == QLatin1String("auto")) {
            options.setUserTimeoutMode(KeepAliveOptions::UserTimeoutMode::Automatic);
        } else if (text == QLatin1String("off")) {
            options.setUserTimeoutMode(KeepAliveOptions::UserTimeoutMode::Off);
        } else {
            const std::optional<milliseconds> value = parseDuration(option, text, error, Sign::Any);
            if (!value) {
                error->message += QStringLiteral(", auto or off");
                return std::nullopt;
            }
            options.setUserTimeout(*value);
        }
        if (!check(option))
            return std::nullopt;
    }
    return options;
}

std::optional<milliseconds> parseTimerDuration(const QCommandLineParser &parser,
                                               const QString &option, UsageError *error)
{
    const QString text = parser.value(option);
    const std::optional<milliseconds> duration = parseDuration(option, text, error);
    if (duration && *duration > milliseconds(std::numeric_limits<int>::max())) {
        *error = {QStringLiteral("--%1 %2: too large (at most 24 days)").arg(option, text)};
        return std::nullopt;
    }
    return duration;
}

std::optional<UsageError> parseCommandLine(QCommandLineParser &parser,
                                           const QList<QCommandLineOption> &options,
                                           const QStringList &arguments)
{
    parser.addOptions(options);
    parser.setSingleDashWordOptionMode(QCommandLineParser::ParseAsCompactedShortOptions);
    if (!parser.parse(arguments))
        return UsageError{parser.errorText()};
    const QStringList given = parser.optionNames();
    for (const QString &name : given) {
        const auto option = std::find_if(options.cbegin(), options.cend(),
                                         [&](const auto &o) { return o.names().contains(name); });
        if (option == options.cend())
            continue; // --help, --version
        // Every spelling counts (-d 1 --idle 2 included). A flag has no
        // values to count: Qt 6.8+ warns when values() is asked for one.
        const qsizetype count = option->valueName().isEmpty()
                ? std::count_if(given.cbegin(), given.cend(),
                                [&](const QString &n) { return option->names().contains(n); })
                : parser.values(*option).size();
        if (count > 1)
            return UsageError{
                    QStringLiteral("option %1%2 given more than once")
                            .arg(name.size() == 1 ? QStringLiteral("-") : QStringLiteral("--"),
                                 name)};
    }
    return std::nullopt;
}

std::optional<int> handleCommandLine(QCommandLineParser &parser,
                                     const QList<QCommandLineOption> &options,
                                     const QStringList &arguments)
{
    if (const std::optional<UsageError> error = parseCommandLine(parser, options, arguments))
        return usage(*error);
    if (parser.isSet(QStringLiteral("help")))
        return printHelp(parser);
    if (parser.isSet(QStringLiteral("version")))
        return printVersion();
    return std::nullopt;
}

QString formatDuration(milliseconds duration)
{
    if (duration == milliseconds::max())
        return QStringLiteral("none");
    const qint64 ms = duration.count();
    if (ms % 1000 == 0)
        return QStringLiteral("%1 s").arg(ms / 1000);
    if (ms < 1000)
        return QStringLiteral("%1 ms").arg(ms);
    return QStringLiteral("%1 s").arg(double(ms) / 1000.0);
}

QString formatSeconds(qint64 ms)
{
    return QStringLiteral("%1 s").arg(double(ms) / 1000.0, 0, 'f', 3);
}

namespace {

QString userTimeoutText(const KeepAliveOptions &options)
{
    switch (options.userTimeoutMode()) {
    case KeepAliveOptions::UserTimeoutMode::Automatic:
        return QStringLiteral("automatic (%1)").arg(formatDuration(options.userTimeout()));
    case KeepAliveOptions::UserTimeoutMode::Explicit:
        return formatDuration(options.userTimeout());
    case KeepAliveOptions::UserTimeoutMode::Off:
        break;
    }
    return QStringLiteral("off");
}

QString fieldName(KeepAliveOptions::Field field)
{
    switch (field) {
    case KeepAliveOptions::Field::Enabled:
        return QStringLiteral("keepalive");
    case KeepAliveOptions::Field::Idle:
        return QStringLiteral("idle");
    case KeepAliveOptions::Field::Interval:
        return QStringLiteral("interval");
    case KeepAliveOptions::Field::ProbeCount:
        return QStringLiteral("probes");
    case KeepAliveOptions::Field::UserTimeout:
        break;
    }
    return QStringLiteral("user timeout");
}

constexpr KeepAliveOptions::Field AllFields[] = {
        KeepAliveOptions::Field::Enabled,     KeepAliveOptions::Field::Idle,
        KeepAliveOptions::Field::Interval,    KeepAliveOptions::Field::ProbeCount,
        KeepAliveOptions::Field::UserTimeout,
};

template<typename T>
void addField(QStringList *parts, const QString &name, const std::optional<T> &value,
              const QString &unit = QString())
{
    if (value)
        parts->append(QStringLiteral("%1 %2%3").arg(name).arg(*value).arg(unit));
}

void addDuration(QStringList *parts, const QString &name, const std::optional<milliseconds> &value)
{
    if (value)
        parts->append(QStringLiteral("%1 %2 ms").arg(name).arg(value->count()));
}

void addMicroseconds(QStringList *parts, const QString &name,
                     const std::optional<microseconds> &value)
{
    if (value)
        parts->append(QStringLiteral("%1 %2 ms").arg(name).arg(double(value->count()) / 1000.0));
}

template<typename T>
void insert(QJsonObject *object, const QString &name, const std::optional<T> &value)
{
    if (value)
        object->insert(name, qint64(*value));
}

template<typename Rep, typename Period>
void insert(QJsonObject *object, const QString &name,
            const std::optional<duration<Rep, Period>> &value)
{
    if (value)
        object->insert(name, qint64(value->count()));
}

} // namespace

QString describe(const KeepAliveOptions &options)
{
    if (!options.isEnabled())
        return QStringLiteral("keepalive off, user timeout %1").arg(userTimeoutText(options));
    return QStringLiteral("keepalive on, idle %1, interval %2, probes %3, user timeout %4")
            .arg(formatDuration(options.idle()), formatDuration(options.interval()))
            .arg(options.probeCount())
            .arg(userTimeoutText(options));
}

QString describe(const EffectiveKeepAliveOptions &effective)
{
    QStringList parts;
    if (effective.enabled)
        parts << (*effective.enabled ? QStringLiteral("keepalive on")
                                     : QStringLiteral("keepalive off"));
    if (effective.idle)
        parts << QStringLiteral("idle %1").arg(formatDuration(*effective.idle));
    if (effective.interval)
        parts << QStringLiteral("interval %1").arg(formatDuration(*effective.interval));
    if (effective.probeCount)
        parts << QStringLiteral("probes %1").arg(*effective.probeCount);
    if (effective.userTimeout)
        parts << (effective.userTimeout->count() == 0
                          ? QStringLiteral("user timeout off")
                          : QStringLiteral("user timeout %1 ms").arg(effective.userTimeout->count()));
    if (parts.isEmpty())
        return QStringLiteral("nothing could be read back");
    return parts.join(QStringLiteral(", "));
}

QStringList unreadFields(const EffectiveKeepAliveOptions &effective)
{
    QStringList missing;
    for (KeepAliveOptions::Field field : AllFields) {
        if (!effective.knownFields().testFlag(field))
            missing << fieldName(field);
    }
    return missing;
}

QString describe(const ConnectionHealth &health)
{
    if (!health.isValid())
        return QStringLiteral("not available on this platform");
    QStringList parts{QStringLiteral("state %1").arg(enumName(health.state))};
    addField(&parts, QStringLiteral("probes"), health.probes);
    addField(&parts, QStringLiteral("retransmits"), health.retransmits);
    addField(&parts, QStringLiteral("total retransmits"), health.totalRetransmits);
    addField(&parts, QStringLiteral("backoff"), health.backoff);
    addField(&parts, QStringLiteral("unacked"), health.unackedSegments);
    addField(&parts, QStringLiteral("not sent"), health.notSentBytes, QStringLiteral(" B"));
    addMicroseconds(&parts, QStringLiteral("rtt"), health.rtt);
    addMicroseconds(&parts, QStringLiteral("rto"), health.retransmissionTimeout);
    addDuration(&parts, QStringLiteral("since data received"), health.sinceLastDataReceived);
    addDuration(&parts, QStringLiteral("since data sent"), health.sinceLastDataSent);
    addDuration(&parts, QStringLiteral("since ACK received"), health.sinceLastAckReceived);
    return parts.join(QStringLiteral(", "));
}

QJsonObject toJson(const KeepAliveOptions &options)
{
    QJsonObject object{
            {QStringLiteral("enabled"), options.isEnabled()},
            {QStringLiteral("idleMs"), qint64(options.idle().count())},
            {QStringLiteral("intervalMs"), qint64(options.interval().count())},
            {QStringLiteral("probeCount"), options.probeCount()},
            {QStringLiteral("userTimeoutMode"), enumName(options.userTimeoutMode())},
            {QStringLiteral("userTimeoutMs"), qint64(options.userTimeout().count())},
    };
    const milliseconds bound = options.detectionBound();
    object.insert(QStringLiteral("detectionBoundMs"),
                  bound == milliseconds::max() ? QJsonValue() : QJsonValue(qint64(bound.count())));
    return object;
}

QJsonObject toJson(const EffectiveKeepAliveOptions &effective)
{
    QJsonObject object;
    if (effective.enabled)
        object.insert(QStringLiteral("enabled"), *effective.enabled);
    insert(&object, QStringLiteral("idleMs"), effective.idle);
    insert(&object, QStringLiteral("intervalMs"), effective.interval);
    insert(&object, QStringLiteral("probeCount"), effective.probeCount);
    insert(&object, QStringLiteral("userTimeoutMs"), effective.userTimeout);
    return object;
}

QJsonObject toJson(const ConnectionHealth &health)
{
    QJsonObject object{{QStringLiteral("state"), enumName(health.state)}};
    insert(&object, QStringLiteral("probes"), health.probes);
    insert(&object, QStringLiteral("retransmits"), health.retransmits);
    insert(&object, QStringLiteral("totalRetransmits"), health.totalRetransmits);
    insert(&object, QStringLiteral("backoff"), health.backoff);
    insert(&object, QStringLiteral("unackedSegments"), health.unackedSegments);
    insert(&object, QStringLiteral("notSentBytes"), health.notSentBytes);
    insert(&object, QStringLiteral("rttUs"), health.rtt);
    insert(&object, QStringLiteral("rttVarianceUs"), health.rttVariance);
    insert(&object, QStringLiteral("rtoUs"), health.retransmissionTimeout);
    insert(&object, QStringLiteral("sinceLastDataReceivedMs"), health.sinceLastDataReceived);
    insert(&object, QStringLiteral("sinceLastDataSentMs"), health.sinceLastDataSent);
    insert(&object, QStringLiteral("sinceLastAckReceivedMs"), health.sinceLastAckReceived);
    return object;
}

Output::Output(bool json, bool quiet) : m_json(json), m_quiet(quiet)
{
    m_clock.start();
}

void Output::event(const QString &name, const QString &text, QJsonObject fields, bool essential)
{
    if (m_quiet && !essential)
        return;
    const QDateTime now = QDateTime::currentDateTime();
    const qint64 elapsed = m_clock.elapsed();
    if (m_json) {
        fields.insert(QStringLiteral("event"), name);
        fields.insert(QStringLiteral("time"), now.toUTC().toString(Qt::ISODateWithMs));
        fields.insert(QStringLiteral("elapsed"), double(elapsed) / 1000.0);
        write(QString::fromUtf8(QJsonDocument(fields).toJson(QJsonDocument::Compact)));
        return;
    }
    write(QStringLiteral("%1 %2  %3")
                  .arg(now.toString(QStringLiteral("HH:mm:ss.zzz")),
                       QStringLiteral("+%1").arg(formatSeconds(elapsed)).leftJustified(10), text));
}

void Output::setting(const QString &name, const QString &text, QJsonObject fields)
{
    if (m_quiet)
        return;
    if (m_json) {
        event(name, text, fields);
        return;
    }
    write(text);
}

void Output::write(const QString &line)
{
    static QTextStream out(stdout);
    out << line << Qt::endl; // flushed: the output is read while the tool runs
}

void printError(const QString &message)
{
    static QTextStream err(stderr);
    err << QCoreApplication::applicationName() << ": " << message << Qt::endl;
}

int printHelp(const QCommandLineParser &parser)
{
    QTextStream(stdout) << parser.helpText() << Qt::flush;
    return ExitOrderly;
}

int printVersion()
{
    QTextStream(stdout) << QCoreApplication::applicationName() << ' '
                        << QCoreApplication::applicationVersion() << Qt::endl;
    return ExitOrderly;
}

int usage(const UsageError &error)
{
    printError(error.message);
    return ExitUsage;
}

void setUpTool(const QString &name)
{
    QCoreApplication::setApplicationName(name);
    QCoreApplication::setApplicationVersion(QStringLiteral(QTKEEPALIVE_VERSION_STR));
    QLoggingCategory::setFilterRules(QStringLiteral("qtkeepalive.*.info=false\n"
                                                    "qtkeepalive.*.warning=false"));
}

#ifdef Q_OS_UNIX
namespace {
int signalPipe[2] = {-1, -1};

void onSignal(int number)
{
    const int savedErrno = errno;
    const char byte = char(number);
    // Async-signal-safe; a full pipe already holds a pending request.
    [[maybe_unused]] const ssize_t written = ::write(signalPipe[1], &byte, 1);
    errno = savedErrno;
}
} // namespace
#endif

#ifdef Q_OS_WIN
namespace {
QPointer<StopSignals> stopSignals;

BOOL WINAPI onConsoleEvent(DWORD type)
{
    QString name;
    switch (type) {
    case CTRL_C_EVENT:
        name = QStringLiteral("CTRL_C_EVENT");
        break;
    case CTRL_BREAK_EVENT:
        name = QStringLiteral("CTRL_BREAK_EVENT");
        break;
    case CTRL_CLOSE_EVENT:
        name = QStringLiteral("CTRL_CLOSE_EVENT");
        break;
    default:
        return FALSE; // logoff, shutdown: the default handling
    }
    // Another thread: the event loop runs the stop. Returning TRUE keeps
    // the default handler (ExitProcess) from ending the process first;
    // after CTRL_CLOSE_EVENT Windows ends it anyway a few seconds later.
    if (StopSignals *target = stopSignals.data())
        QMetaObject::invokeMethod(
                target, [target, name] { Q_EMIT target->stopRequested(name); },
                Qt::QueuedConnection);
    return TRUE;
}
} // namespace
#endif

StopSignals::StopSignals(QObject *parent) : QObject(parent)
{
#ifdef Q_OS_WIN
    stopSignals = this;
    ::SetConsoleCtrlHandler(onConsoleEvent, TRUE);
#endif
#ifdef Q_OS_UNIX
    if (::pipe(signalPipe) != 0)
        return;
    for (int fd : signalPipe) {
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    auto *notifier = new QSocketNotifier(signalPipe[0], QSocketNotifier::Read, this);
    connect(notifier, &QSocketNotifier::activated, this, [this] {
        char byte = 0;
        while (::read(signalPipe[0], &byte, 1) == 1)
            Q_EMIT stopRequested(int(byte) == SIGINT ? QStringLiteral("SIGINT")
                                                     : QStringLiteral("SIGTERM"));
    });
    struct sigaction action = {};
    action.sa_handler = onSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
#endif
}

StopSignals::~StopSignals()
{
#ifdef Q_OS_WIN
    ::SetConsoleCtrlHandler(onConsoleEvent, FALSE);
    stopSignals = nullptr;
#endif
#ifdef Q_OS_UNIX
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    for (int &fd : signalPipe) {
        if (fd >= 0)
            ::close(fd);
        fd = -1;
    }
#endif
}

} // namespace KeepAliveTool
