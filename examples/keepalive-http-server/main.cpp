// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// keepalive-http-server: Qt's own HTTP server over a KeepAliveServer.
// QAbstractHttpServer::bind() takes any listening QTcpServer and takes each
// client with its virtual nextPendingConnection(), so every HTTP connection
// is a KeepAliveSocket in the server's care: a client whose host vanished is
// dropped within the keepalive bound, an idle keep-alive connection is
// closed after --idle-timeout, and a client over --max-clients is answered
// 503. Each lost client is logged with the reason.

#include "../shared/keepalivetool.h"

#include <KeepAliveServer>
#include <KeepAliveSocket>

#include <QtCore/QCoreApplication>
#include <QtHttpServer/QHttpServer>
#include <QtHttpServer/QHttpServerRequest>
#include <QtNetwork/QHostAddress>

using namespace KeepAliveTool;

namespace {

QList<QCommandLineOption> describeCommandLine(QCommandLineParser &parser)
{
    parser.setApplicationDescription(
            QStringLiteral("QHttpServer on a KeepAliveServer. GET / answers a greeting, "
                           "GET /echo?TEXT answers TEXT. Every lost client is logged with the "
                           "reason: a dead peer, reaped when idle, refused over the limit (with "
                           "a 503).\n\n"
                           "Durations are seconds (2, 0.5) or carry a unit (500ms, 1.5s, 2min)."
                           "\n\n")
            + exitCodeHelp(true));
    parser.addHelpOption();
    parser.addVersionOption();
    const QList<QCommandLineOption> options{
            {QStringLiteral("idle-timeout"),
             QStringLiteral("Close connections that sent nothing for DURATION (default 0: off)."),
             QStringLiteral("duration")},
            {QStringLiteral("max-clients"),
             QStringLiteral("Answer 503 to clients beyond N connected (default 0: no limit)."),
             QStringLiteral("n")},
    };
    return listenCommandLineOptions(8080) + options + keepAliveCommandLineOptions();
}

// --idle-timeout and --max-clients, checked by the server itself.
std::optional<UsageError> configure(const QCommandLineParser &parser, KeepAliveServer *server)
{
    UsageError error;
    const std::optional<KeepAliveOptions> options = keepAliveOptionsFromCommandLine(parser, &error);
    if (!options)
        return error;
    server->setKeepAliveOptions(*options);
    const QString idle = parser.value(QStringLiteral("idle-timeout"));
    if (parser.isSet(QStringLiteral("idle-timeout"))) {
        const auto timeout = parseDuration(QStringLiteral("idle-timeout"), idle, &error, Sign::Any);
        if (!timeout)
            return error;
        if (!server->setIdleTimeout(*timeout))
            return UsageError{
                    QStringLiteral("--idle-timeout %1: %2").arg(idle, server->settingErrorString())};
    }
    const QString max = parser.value(QStringLiteral("max-clients"));
    if (parser.isSet(QStringLiteral("max-clients"))) {
        const std::optional<qint64> count =
                parseInteger(QStringLiteral("max-clients"), max, &error);
        if (!count)
            return error;
        if (*count > std::numeric_limits<int>::max())
            return UsageError{QStringLiteral("--max-clients %1: not in 0..%2")
                                      .arg(max)
                                      .arg(std::numeric_limits<int>::max())};
        if (!server->setMaxClients(int(qMax<qint64>(*count, std::numeric_limits<int>::min()))))
            return UsageError{
                    QStringLiteral("--max-clients %1: %2").arg(max, server->settingErrorString())};
    }
    return std::nullopt;
}

// One line per lost client. A refused client never reaches QHttpServer: the
// server aborts it when this returns, and only what flush() handed to the
// kernel before that still leaves.
void logLoss(Output &out, KeepAliveServer *server, KeepAliveSocket *client,
             QtKeepAlive::ClientLossReason reason)
{
    QString what;
    if (reason == QtKeepAlive::ClientLossReason::RefusedOverLimit) {
        client->write("HTTP/1.1 503 Service Unavailable\r\n"
                      "Content-Type: text/plain\r\n"
                      "Content-Length: 17\r\n"
                      "Connection: close\r\n\r\n"
                      "too many clients\n");
        client->flush();
        what = QStringLiteral("refused: answered 503, %1 connected (--max-clients %2)")
                       .arg(server->clientCount())
                       .arg(server->maxClients());
    } else if (reason == QtKeepAlive::ClientLossReason::IdleTimeout) {
        what = QStringLiteral("reaped: sent nothing for %1")
                       .arg(formatDuration(server->idleTimeout()));
    } else {
        what = QStringLiteral("dead peer (%1): %2").arg(enumName(reason), client->errorString());
    }
    out.event(QStringLiteral("lost"),
              QStringLiteral("lost %1 %2")
                      .arg(endpoint(client->peerAddress(), client->peerPort()), what));
}

} // namespace

int main(int argc, char *argv[])
{
    QCoreApplication app(argc, argv);
    setUpTool(QStringLiteral("keepalive-http-server"));
    QCommandLineParser parser;
    if (const std::optional<int> exitCode =
                handleCommandLine(parser, describeCommandLine(parser), app.arguments()))
        return *exitCode;
    if (!parser.positionalArguments().isEmpty())
        return usage({QStringLiteral("unexpected argument \"%1\" (see --help)")
                              .arg(parser.positionalArguments().constFirst())});
    QHostAddress address(QHostAddress::LocalHost);
    quint16 port = 8080;
    if (const std::optional<UsageError> error =
                parseListen(parser, QStringLiteral("address"), &address, &port))
        return usage(*error);

    Output out(false, false);
    QHttpServer http;
    auto *server = new KeepAliveServer(&http);
    if (const std::optional<UsageError> error = configure(parser, server))
        return usage(*error);
    QObject::connect(server, &KeepAliveServer::clientLost, server,
                     [&out, server](KeepAliveSocket *client, QtKeepAlive::ClientLossReason reason) {
                         logLoss(out, server, client, reason);
                     });

    http.route(QStringLiteral("/"), [server] {
        return QStringLiteral("hello from QHttpServer on a KeepAliveServer (%1 connected)\n")
                .arg(server->clientCount());
    });
    http.route(QStringLiteral("/echo"), [](const QHttpServerRequest &request) {
        return request.query().toString(QUrl::FullyDecoded) + QLatin1Char('\n');
    });

    if (!server->listen(address, port)) {
        printError(QStringLiteral("cannot listen on %1: %2")
                           .arg(endpoint(address, port), server->errorString()));
        return ExitNetwork;
    }
    // Listening first: from Qt 6.8 on, bind() refuses (returns false) a
    // server that is not listening; Qt 6.4's returns void.
    http.bind(server);
    out.event(QStringLiteral("listening"),
              QStringLiteral("listening on %1")
                      .arg(endpoint(server->serverAddress(), server->serverPort())));
    const KeepAliveOptions options = server->keepAliveOptions();
    out.setting(QStringLiteral("settings"),
                QStringLiteral("keepalive: %1, detection bound %2; idle timeout %3; max clients %4")
                        .arg(describe(options), formatDuration(options.detectionBound()),
                             server->idleTimeout().count() ? formatDuration(server->idleTimeout())
                                                           : QStringLiteral("off"))
                        .arg(server->maxClients()));

    StopSignals stopSignals;
    QObject::connect(&stopSignals, &StopSignals::stopRequested, &app, &QCoreApplication::quit);
    return QCoreApplication::exec();
}
