// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// The dead-peer demonstration: a plain QTcpSocket, a QTcpSocket with keepalive
// set by hand and a KeepAliveSocket, side by side, against peers that fall
// silent or reset. Prints how long each client took to notice and what it was
// told. Exit code 0 when KeepAliveSocket reported every scenario with the
// expected reason, 1 otherwise, 2 for invalid command-line values.

#include "deadpeerdemo.h"

#include <keepalivetesting.h>

#include <QtCore/QCommandLineParser>
#include <QtCore/QCoreApplication>
#include <QtCore/QElapsedTimer>
#include <QtCore/QLoggingCategory>
#include <QtCore/QMetaEnum>
#include <QtCore/QTextStream>

#include <cstdio>
#include <optional>

using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

constexpr int ExitSuccess = 0;
constexpr int ExitUnexpected = 1;
constexpr int ExitUsage = 2;

constexpr int MaximumWaitSeconds = 86400;
// Past the detection bound: retransmission-timer granularity and a busy machine.
constexpr auto WaitMargin = 3s;

void print(const QString &line = QString())
{
    static QTextStream out(stdout);
    out << line << Qt::endl;
}

void printError(const QString &message)
{
    static QTextStream err(stderr);
    err << QCoreApplication::applicationName() << ": " << message << Qt::endl;
}

QString joined(const QList<Scenario> &scenarios)
{
    QStringList names;
    for (Scenario scenario : scenarios)
        names.append(scenarioName(scenario));
    return names.join(QStringLiteral(", "));
}

bool parseInteger(const QCommandLineParser &parser, const QString &option, int *value,
                  QString *error)
{
    const QString text = parser.value(option);
    bool ok = false;
    *value = text.toInt(&ok);
    if (!ok)
        *error = QStringLiteral("--%1 \"%2\" is not a whole number").arg(option, text);
    return ok;
}

// The bound KeepAliveSocket keeps here: the detection bound, or where nothing
// bounds data in flight (Windows under Wine), the idle one.
milliseconds silentPeerBound(const KeepAliveOptions &options)
{
    const milliseconds bound = options.detectionBound();
    return bound == milliseconds::max() ? options.idleDetectionBound() : bound;
}

// Fills \a settings from the command line; returns an error message for invalid values.
QString parseSettings(const QCommandLineParser &parser, DemoSettings *settings)
{
    QString error;
    int idle = 0;
    int interval = 0;
    int count = 0;
    if (!parseInteger(parser, QStringLiteral("idle"), &idle, &error)
        || !parseInteger(parser, QStringLiteral("interval"), &interval, &error)
        || !parseInteger(parser, QStringLiteral("count"), &count, &error))
        return error;

    settings->options = KeepAliveOptions()
                                .setIdle(seconds(idle))
                                .setInterval(seconds(interval))
                                .setProbeCount(count);
    if (const QString invalid = settings->options.validationError(); !invalid.isEmpty())
        return QStringLiteral("invalid keepalive options: %1").arg(invalid);

    if (parser.isSet(QStringLiteral("wait"))) {
        int wait = 0;
        if (!parseInteger(parser, QStringLiteral("wait"), &wait, &error))
            return error;
        if (wait < 1 || wait > MaximumWaitSeconds)
            return QStringLiteral("--wait %1 is out of range 1..%2 (seconds)")
                    .arg(wait)
                    .arg(MaximumWaitSeconds);
        settings->wait = seconds(wait);
    } else {
        const milliseconds bound = silentPeerBound(settings->options);
        settings->wait = bound == milliseconds::max() ? seconds(MaximumWaitSeconds)
                                                      : ceil<seconds>(bound) + WaitMargin;
    }

    settings->peerControl = parser.value(QStringLiteral("peer-control"));
    if (!settings->peerControl.isEmpty()
        && !QtKeepAliveTesting::PeerControl::isValidAddress(settings->peerControl))
        return QStringLiteral("--peer-control \"%1\" is not HOST:PORT (an IP address, a port "
                              "1..65535)")
                .arg(settings->peerControl);

    settings->scenarios.clear();
    const QStringList names =
            parser.value(QStringLiteral("scenarios")).split(QLatin1Char(','), Qt::SkipEmptyParts);
    for (const QString &name : names) {
        const std::optional<Scenario> scenario = scenarioFromName(name.trimmed());
        if (!scenario)
            return QStringLiteral("--scenarios: unknown scenario \"%1\" (choose from %2)")
                    .arg(name.trimmed(), joined(allScenarios()));
        if (!settings->scenarios.contains(*scenario))
            settings->scenarios.append(*scenario);
    }
    if (settings->scenarios.isEmpty())
        return QStringLiteral("--scenarios: no scenario given (choose from %1)")
                .arg(joined(allScenarios()));
    return {};
}

// "5 s", or "1.5 s" for values that are not whole seconds; "none" for no
// bound (detectionBound() where nothing bounds data in flight).
QString formatDuration(milliseconds value)
{
    if (value == milliseconds::max())
        return QStringLiteral("none");
    if (value.count() % 1000 == 0)
        return QStringLiteral("%1 s").arg(value.count() / 1000);
    return QStringLiteral("%1 s").arg(double(value.count()) / 1000.0);
}

void printHeader(const DemoSettings &settings)
{
    const KeepAliveOptions &options = settings.options;
    const int indent = 23;
    print(QStringLiteral("Dead-peer demo: how long until a client notices that its peer is gone, "
                         "and what is it told?"));
    print();
    print(QStringLiteral("%1 and, in every scenario, three fresh connections to it:")
                  .arg(settings.peerControl.isEmpty()
                               ? QStringLiteral("A server on 127.0.0.1")
                               : QStringLiteral("A peer on a Linux host (peer helper %1)")
                                         .arg(settings.peerControl)));
    print(QStringLiteral("  %1  as it comes (keepalive off)")
                  .arg(clientName(ClientKind::Plain).leftJustified(indent)));
#if defined(Q_OS_WIN)
    print(QStringLiteral("  %1  KeepAliveOption on, then WSAIoctl() SIO_KEEPALIVE_VALS idle %2 "
                         "ms,")
                  .arg(clientName(ClientKind::ByHand).leftJustified(indent))
                  .arg(options.idle().count()));
    print(QStringLiteral("  %1  interval %2 ms; the probe count cannot be set (the usual recipe)")
                  .arg(QString(indent, QLatin1Char(' ')))
                  .arg(options.interval().count()));
#else
    print(QStringLiteral("  %1  KeepAliveOption on, then setsockopt() TCP_KEEPIDLE %2,")
                  .arg(clientName(ClientKind::ByHand).leftJustified(indent))
                  .arg(ceil<seconds>(options.idle()).count()));
    print(QStringLiteral("  %1  TCP_KEEPINTVL %2, TCP_KEEPCNT %3 (the usual recipe)")
                  .arg(QString(indent, QLatin1Char(' ')))
                  .arg(ceil<seconds>(options.interval()).count())
                  .arg(options.probeCount()));
#endif
    print(QStringLiteral("  %1  KeepAliveOptions idle %2, interval %3, %4 probes;")
                  .arg(clientName(ClientKind::KeepAlive).leftJustified(indent),
                       formatDuration(options.idle()), formatDuration(options.interval()))
                  .arg(options.probeCount()));
    // Where the platform has no per-socket user timeout (Windows under
    // Wine: TCP_MAXRT refused), none is applied and only the idle bound holds.
    const bool userTimeoutApplied =
            KeepAliveOptions::supportedFields().testFlag(KeepAliveOptions::Field::UserTimeout);
    print(QStringLiteral("  %1  %2, detection bound %3 (idle: %4)")
                  .arg(QString(indent, QLatin1Char(' ')),
                       userTimeoutApplied ? QStringLiteral("automatic user timeout %1")
                                                    .arg(formatDuration(options.userTimeout()))
                                          : QStringLiteral("no user timeout on this platform"),
                       formatDuration(options.detectionBound()),
                       formatDuration(options.idleDetectionBound())));
    print();
    print(QStringLiteral("Scenarios (the peer is the server's end of each connection):"));
    for (Scenario scenario : settings.scenarios)
        print(QStringLiteral("  %1  %2")
                      .arg(scenarioName(scenario).leftJustified(5), scenarioDescription(scenario)));
    print();
    print(QStringLiteral("Linux defaults, for comparison: with keepalive on, a QTcpSocket notices "
                         "a dead idle peer after"));
    print(QStringLiteral("2 h 11 min (7200 s + 9 x 75 s); with data in flight, after about 15 min "
                         "(tcp_retries2 = 15)."));
    if (settings.wait < ceil<seconds>(silentPeerBound(options)))
        print(QStringLiteral("Note: --wait %1 s is shorter than the detection bound; "
                             "KeepAliveSocket cannot notice a silent peer in time.")
                      .arg(settings.wait.count()));
    print();
}

void printTable(const DemoSettings &settings, const QList<Observation> &observations)
{
    const QStringList headings = {QStringLiteral("socket"), QStringLiteral("scenario"),
                                  QStringLiteral("detected after (s)"), QStringLiteral("reason")};
    QList<QStringList> rows;
    for (ClientKind client : allClients()) {
        for (const Observation &observation : observations) {
            if (observation.client != client)
                continue;
            rows.append(
                    {clientName(client), scenarioName(observation.scenario),
                     observation.detectedAfter
                             ? formatSeconds(*observation.detectedAfter)
                             : QStringLiteral("not detected within %1 s").arg(settings.wait.count()),
                     observation.detectedAfter ? observation.reason : QStringLiteral("-")});
        }
    }

    QList<qsizetype> widths;
    for (const QString &heading : headings)
        widths.append(heading.size());
    for (const QStringList &row : std::as_const(rows)) {
        for (qsizetype column = 0; column < row.size(); ++column)
            widths[column] = std::max(widths[column], row[column].size());
    }
    auto line = [&](const QStringList &cells) {
        QString text;
        for (qsizetype column = 0; column < cells.size(); ++column) {
            const bool last = column == cells.size() - 1;
            text += last ? cells[column] : cells[column].leftJustified(widths[column] + 2);
        }
        print(text);
    };

    line(headings);
    QStringList rules;
    for (qsizetype width : std::as_const(widths))
        rules.append(QString(width, QLatin1Char('-')));
    rules.last() = QString(headings.last().size(), QLatin1Char('-'));
    line(rules);
    QString previousClient;
    for (const QStringList &row : std::as_const(rows)) {
        if (!previousClient.isEmpty() && row.first() != previousClient)
            print();
        previousClient = row.first();
        line(row);
    }
}

// Lists what KeepAliveSocket did not report as expected; empty when all is well.
QStringList unexpectedResults(const DemoSettings &settings, const DemoResult &result)
{
    const QList<Observation> &observations = result.observations;
    using Reason = KeepAliveSocket::DeadPeerReason;
    const auto reasonName = [](Reason reason) {
        return QString::fromLatin1(QMetaEnum::fromType<Reason>().valueToKey(int(reason)));
    };

    QStringList problems;
    for (Scenario scenario : settings.scenarios) {
        if (std::any_of(result.notApplicable.begin(), result.notApplicable.end(),
                        [scenario](const auto &skipped) { return skipped.first == scenario; }))
            continue;
        const auto found = std::find_if(observations.begin(), observations.end(),
                                        [scenario](const Observation &observation) {
                                            return observation.client == ClientKind::KeepAlive
                                                    && observation.scenario == scenario;
                                        });
        const Reason expected = expectedReason(scenario);
        QString wanted = expected == Reason::None
                ? QStringLiteral("disconnected() without deadPeer()")
                : QStringLiteral("deadPeer(%1)").arg(reasonName(expected));
        QString got;
        if (found == observations.end()) {
            got = QStringLiteral("the scenario did not run");
        } else if (scenario == Scenario::Busy && !dataInFlightBounded()) {
            // Honest: no bound, so nothing may claim a death within the wait.
            wanted = QStringLiteral("nothing within %1 s (no bound for data in flight)")
                             .arg(settings.wait.count());
            if (found->detectedAfter)
                got = found->reason;
        } else if (!found->detectedAfter)
            got = QStringLiteral("nothing within %1 s").arg(settings.wait.count());
        else if (found->deadPeerReason != expected
                 || (expected == Reason::None && !found->disconnected))
            got = found->reason;
        if (!got.isEmpty())
            problems.append(QStringLiteral("%1: expected %2, got %3")
                                    .arg(scenarioName(scenario), wanted, got));
    }
    return problems;
}

// The description and the options; returns --help's option.
QCommandLineOption describeCommandLine(QCommandLineParser &parser)
{
    parser.setApplicationDescription(QStringLiteral(
            "Connects a plain QTcpSocket, a QTcpSocket with keepalive set by hand and a "
            "KeepAliveSocket to a local server, lets the server's ends die (silently while idle, "
            "silently with data in flight, with a reset) and prints how long each client took "
            "to notice and what it was told.\n"
            "Exit code: 0 when KeepAliveSocket reported every scenario with the expected "
            "reason, 1 otherwise, 2 for invalid arguments."));
    const QCommandLineOption helpOption = parser.addHelpOption();
    parser.addOptions({
            {QStringLiteral("idle"),
             QStringLiteral("Keepalive idle time: seconds without traffic before the first probe."),
             QStringLiteral("seconds"), QStringLiteral("2")},
            {QStringLiteral("interval"), QStringLiteral("Seconds between unanswered probes."),
             QStringLiteral("seconds"), QStringLiteral("1")},
            {QStringLiteral("count"),
             QStringLiteral("Unanswered probes before the peer is declared dead."),
             QStringLiteral("probes"), QStringLiteral("3")},
            {QStringLiteral("wait"),
             QStringLiteral("Seconds each scenario waits for the clients to notice (default: "
                            "the detection bound idle + interval x count, plus %1 s).")
                     .arg(WaitMargin.count()),
             QStringLiteral("seconds")},
            {QStringLiteral("peer-control"),
             QStringLiteral("The peers are a Linux process driven through this control channel "
                            "(HOST:PORT) of tests/auto/crossfaults/peerhelper.py, which sets "
                            "KEEPALIVE_PEER_CONTROL when it starts the demo: the way to run the "
                            "silent scenarios on Windows (under Wine). Default: peers in this "
                            "process."),
             QStringLiteral("address"), QtKeepAliveTesting::PeerControl::addressFromEnvironment()},
            {QStringLiteral("scenarios"),
             QStringLiteral("Comma-separated scenarios to run, in order: %1 (default: "
                            "idle,busy,reset).")
                     .arg(joined(allScenarios())),
             QStringLiteral("list"), QStringLiteral("idle,busy,reset")},
    });
    return helpOption;
}

// Parses the command line into \a settings; the exit code when the demo is not to run.
std::optional<int> readCommandLine(QCommandLineParser &parser, const QCommandLineOption &helpOption,
                                   DemoSettings *settings)
{
    if (!parser.parse(QCoreApplication::arguments())) {
        printError(parser.errorText());
        return ExitUsage;
    }
    if (parser.isSet(helpOption)) {
        // Not showHelp(): on Windows without a console that is a message box.
        QTextStream(stdout) << parser.helpText() << Qt::flush;
        return ExitSuccess;
    }
    if (!parser.positionalArguments().isEmpty()) {
        printError(QStringLiteral("unexpected argument \"%1\" (see --help)")
                           .arg(parser.positionalArguments().constFirst()));
        return ExitUsage;
    }
    if (const QString error = parseSettings(parser, settings); !error.isEmpty()) {
        printError(error);
        return ExitUsage;
    }
    return std::nullopt;
}

// The table, the scenarios that could not run here, and notes on what the table shows.
void printResults(const DemoSettings &settings, const DemoResult &result, qint64 runTimeMs)
{
    print();
    printTable(settings, result.observations);
    print();
    for (const auto &[scenario, why] : result.notApplicable)
        print(QStringLiteral("%1: not applicable here: %2.").arg(scenarioName(scenario), why));
    if (settings.scenarios.contains(Scenario::Busy) && !dataInFlightBounded())
        print(QStringLiteral("busy: no client can notice here: nothing bounds data in flight on "
                             "one connection on this platform (no user timeout; Wine refuses "
                             "TCP_MAXRT), so the system's own retransmission limit ends these "
                             "connections (about 15 min on a Linux host)."));
    if (settings.scenarios.contains(Scenario::Reset)) {
        print(QStringLiteral("A QTcpSocket reports a reset with the RemoteHostClosedError of an "
                             "orderly close%1.")
                      .arg(settings.scenarios.contains(Scenario::Close)
                                   ? QString()
                                   : QStringLiteral(" (see --scenarios reset,close)")));
    }
    print(QStringLiteral("Finished in %1 s.").arg(formatSeconds(milliseconds(runTimeMs))));
}

// Whether KeepAliveSocket told every scenario's death as expected: the exit code.
int verdict(const DemoSettings &settings, const DemoResult &result)
{
    if (!result.error.isEmpty()) {
        printError(result.error);
        return ExitUnexpected;
    }
    if (const QStringList problems = unexpectedResults(settings, result); !problems.isEmpty()) {
        for (const QString &problem : problems)
            printError(QStringLiteral("KeepAliveSocket, %1").arg(problem));
        return ExitUnexpected;
    }
    print(QStringLiteral("KeepAliveSocket reported every scenario with the expected reason."));
    return ExitSuccess;
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("deadpeer-demo"));
    // The library logs every death with the kernel's TCP_INFO; the table says it all here.
    // QT_LOGGING_RULES="qtkeepalive.*=true" shows the details.
    QLoggingCategory::setFilterRules(QStringLiteral("qtkeepalive.*.info=false"));

    QCommandLineParser parser;
    const QCommandLineOption helpOption = describeCommandLine(parser);
    DemoSettings settings;
    if (const std::optional<int> exitCode = readCommandLine(parser, helpOption, &settings))
        return *exitCode;

    printHeader(settings);
    QElapsedTimer runTime;
    runTime.start();
    const DemoResult result = runDemo(settings, [](const QString &line) { print(line); });
    printResults(settings, result, runTime.elapsed());
    return verdict(settings, result);
}
