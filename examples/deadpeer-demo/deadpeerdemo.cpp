// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "deadpeerdemo.h"

#include <keepalivetesting.h>

#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QEventLoop>
#include <QtCore/QMetaEnum>
#include <QtCore/QTimer>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>

#include <algorithm>
#include <array>
#include <iterator>

#if defined(Q_OS_LINUX)
#  include <netinet/in.h>
#  include <netinet/tcp.h>
#  include <sys/socket.h>
#  include <cerrno>
#elif defined(Q_OS_WIN)
#  include <winsock2.h>
#  include <mstcpip.h>
#endif

using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

constexpr auto ConnectTimeout = 5s;
constexpr qsizetype ClientCount = 3;
// What each client sends in the busy scenario; never acknowledged by the silent peer.
constexpr QByteArrayView BusyPayload = "ping\n";

struct ScenarioInfo
{
    Scenario scenario;
    const char *name;
};

constexpr ClientKind Clients[] = {ClientKind::Plain, ClientKind::ByHand, ClientKind::KeepAlive};

constexpr ScenarioInfo Scenarios[] = {
        {Scenario::Idle, "idle"},
        {Scenario::Busy, "busy"},
        {Scenario::Reset, "reset"},
        {Scenario::Close, "close"},
};

template<typename Enum>
QString enumName(Enum value)
{
    return QString::fromLatin1(QMetaEnum::fromType<Enum>().valueToKey(int(value)));
}

// Runs the event loop until done() holds or the deadline passes; returns done().
template<typename Predicate>
bool runEventLoopUntil(Predicate done, QDeadlineTimer deadline)
{
    if (done())
        return true;
    QEventLoop loop;
    QTimer poll;
    QObject::connect(&poll, &QTimer::timeout, &loop, [&] {
        if (done() || deadline.hasExpired())
            loop.quit();
    });
    poll.start(10ms);
    loop.exec();
    return done();
}

/*
    What the background articles do, since Qt 6.4 can only switch keepalive
    on: set the three timings on the descriptor with setsockopt(), after the
    connection is up. Nothing bounds how long sent data may stay
    unacknowledged (no TCP_USER_TIMEOUT).
*/
bool setKeepAliveByHand(QTcpSocket *socket, const KeepAliveOptions &options, QString *error)
{
    socket->setSocketOption(QAbstractSocket::KeepAliveOption, 1);
#if defined(Q_OS_LINUX)
    const struct
    {
        int option;
        const char *name;
        int value;
    } settings[] = {
            {TCP_KEEPIDLE, "TCP_KEEPIDLE", int(duration_cast<seconds>(options.idle()).count())},
            {TCP_KEEPINTVL, "TCP_KEEPINTVL",
             int(duration_cast<seconds>(options.interval()).count())},
            {TCP_KEEPCNT, "TCP_KEEPCNT", options.probeCount()},
    };
    for (const auto &setting : settings) {
        if (::setsockopt(int(socket->socketDescriptor()), IPPROTO_TCP, setting.option,
                         &setting.value, sizeof setting.value)
            != 0) {
            *error = QStringLiteral("setsockopt(%1, %2) failed: %3")
                             .arg(QString::fromLatin1(setting.name))
                             .arg(setting.value)
                             .arg(qt_error_string(errno));
            return false;
        }
    }
    return true;
#elif defined(Q_OS_WIN)
    // What Windows articles show: SIO_KEEPALIVE_VALS, milliseconds, idle and
    // interval only (Windows sends 10 probes; under Wine the host's count).
    tcp_keepalive values{};
    values.onoff = 1;
    values.keepalivetime = ULONG(options.idle().count());
    values.keepaliveinterval = ULONG(options.interval().count());
    DWORD returned = 0;
    if (::WSAIoctl(SOCKET(socket->socketDescriptor()), SIO_KEEPALIVE_VALS, &values, sizeof values,
                   nullptr, 0, &returned, nullptr, nullptr)
        != 0) {
        *error = QStringLiteral("WSAIoctl(SIO_KEEPALIVE_VALS) failed: WSA error %1")
                         .arg(::WSAGetLastError());
        return false;
    }
    return true;
#else
    Q_UNUSED(options)
    *error = QStringLiteral("the by-hand keepalive settings are written for Linux and Windows "
                            "only");
    return false;
#endif
}

// One client, its peer on the server side, and what the client noticed.
struct Connection
{
    ClientKind kind = ClientKind::Plain;
    QTcpSocket *client = nullptr;
    QTcpSocket *peer = nullptr;
    QElapsedTimer sincePeerDeath;
    Observation observation;

    bool noticed() const { return observation.detectedAfter.has_value(); }
};

class ScenarioRun
{
public:
    // Peers: the server's ends of \a server, or through \a remote when it is not null.
    ScenarioRun(Scenario scenario, const DemoSettings &settings, QTcpServer *server,
                QtKeepAliveTesting::PeerControl *remote,
                const std::function<void(const QString &)> &progress)
        : m_scenario(scenario),
          m_settings(settings),
          m_server(server),
          m_remote(remote),
          m_progress(progress)
    {
        for (std::size_t i = 0; i < m_connections.size(); ++i) {
            m_connections[i].kind = Clients[i];
            m_connections[i].observation.client = Clients[i];
            m_connections[i].observation.scenario = scenario;
        }
    }

    ~ScenarioRun()
    {
        m_observing = false;
        // abort(), not close(): nothing may linger in the kernel between scenarios.
        for (Connection &connection : m_connections) {
            if (connection.client)
                connection.client->abort();
            if (connection.peer)
                connection.peer->abort();
        }
    }

    // Returns an error message, or an empty string when the scenario ran.
    QString run()
    {
        if (QString error = connectClients(); !error.isEmpty())
            return error;
        if (QString error = killPeers(); !error.isEmpty())
            return error;
        m_observing = true;
        runEventLoopUntil([this] { return allNoticed(); },
                          QDeadlineTimer(m_settings.wait, Qt::PreciseTimer));
        m_observing = false;
        return {};
    }

    QList<Observation> observations() const
    {
        QList<Observation> result;
        for (const Connection &connection : m_connections)
            result.append(connection.observation);
        return result;
    }

private:
    QString connectClients()
    {
        return m_remote ? connectClientsToRemotePeer() : connectClientsToServer();
    }

    // Every client connected, within ConnectTimeout.
    bool waitForClients(const std::function<bool()> &alsoDone)
    {
        return runEventLoopUntil(
                [&] {
                    return alsoDone()
                            && std::all_of(m_connections.begin(), m_connections.end(),
                                           [](const Connection &connection) {
                                               return connection.client->state()
                                                       == QAbstractSocket::ConnectedState;
                                           });
                },
                QDeadlineTimer(ConnectTimeout));
    }

    QString connectClientsToRemotePeer()
    {
        QString error;
        const QStringList setup = m_remote->command(QStringLiteral("setup"), &error);
        if (setup.size() < 2)
            return error.isEmpty() ? QStringLiteral("the peer helper's setup gave no address")
                                   : error;
        const QHostAddress address(setup.at(0));
        const quint16 port = quint16(setup.at(1).toUInt());
        for (Connection &connection : m_connections) {
            connection.client = createClient(connection);
            connection.client->connectToHost(address, port);
        }
        if (!waitForClients([] { return true; }))
            return QStringLiteral("the clients did not connect to the peer at %1 port %2 "
                                  "within %3 s")
                    .arg(address.toString())
                    .arg(port)
                    .arg(ConnectTimeout.count());
        m_remote->command(QStringLiteral("wait %1").arg(ClientCount), &error);
        if (!error.isEmpty())
            return error;
        for (Connection &connection : m_connections) {
            if (QString error = configure(connection); !error.isEmpty())
                return QStringLiteral("%1: %2").arg(clientName(connection.kind), error);
        }
        return {};
    }

    QString connectClientsToServer()
    {
        QList<QTcpSocket *> accepted;
        QObject::connect(m_server, &QTcpServer::newConnection, &m_context, [&] {
            while (QTcpSocket *socket = m_server->nextPendingConnection()) {
                socket->setParent(&m_context);
                accepted.append(socket);
            }
        });

        for (Connection &connection : m_connections) {
            connection.client = createClient(connection);
            connection.client->connectToHost(m_server->serverAddress(), m_server->serverPort());
        }
        const bool connected =
                waitForClients([&] { return accepted.size() == qsizetype(m_connections.size()); });
        QObject::disconnect(m_server, nullptr, &m_context, nullptr);
        if (!connected)
            return QStringLiteral("the clients did not connect to %1 port %2 within %3 s")
                    .arg(m_server->serverAddress().toString())
                    .arg(m_server->serverPort())
                    .arg(ConnectTimeout.count());

        for (Connection &connection : m_connections) {
            for (QTcpSocket *socket : std::as_const(accepted)) {
                if (socket->peerPort() == connection.client->localPort())
                    connection.peer = socket;
            }
            if (!connection.peer)
                return QStringLiteral("no server-side socket for the %1 client")
                        .arg(clientName(connection.kind));
            if (QString error = configure(connection); !error.isEmpty())
                return QStringLiteral("%1: %2").arg(clientName(connection.kind), error);
        }
        return {};
    }

    QTcpSocket *createClient(Connection &connection)
    {
        if (connection.kind == ClientKind::KeepAlive) {
            auto *socket = new KeepAliveSocket(&m_context);
            // Validated by the caller; applied by the socket once connected.
            socket->setKeepAliveOptions(m_settings.options);
            QObject::connect(socket, &KeepAliveSocket::deadPeer, socket,
                             [this, &connection, socket](KeepAliveSocket::DeadPeerReason reason) {
                                 connection.observation.deadPeerReason = reason;
                                 notice(connection,
                                        QStringLiteral("%1: %2").arg(enumName(reason),
                                                                     socket->errorString()));
                             });
            QObject::connect(
                    socket, &QAbstractSocket::disconnected, socket, [this, &connection, socket] {
                        connection.observation.disconnected = true;
                        notice(connection,
                               QStringLiteral("no deadPeer(), disconnected: %1: %2")
                                       .arg(enumName(socket->error()), socket->errorString()));
                    });
            return socket;
        }

        auto *socket = new QTcpSocket(&m_context);
        QObject::connect(
                socket, &QAbstractSocket::errorOccurred, socket,
                [this, &connection, socket](QAbstractSocket::SocketError error) {
                    notice(connection,
                           QStringLiteral("%1: %2").arg(enumName(error), socket->errorString()));
                });
        QObject::connect(socket, &QAbstractSocket::disconnected, socket, [this, &connection] {
            connection.observation.disconnected = true;
            notice(connection, QStringLiteral("disconnected without an error"));
        });
        return socket;
    }

    // Called once connected, as the articles do after waitForConnected().
    QString configure(Connection &connection)
    {
        switch (connection.kind) {
        case ClientKind::Plain:
            break;
        case ClientKind::ByHand: {
            QString error;
            if (!setKeepAliveByHand(connection.client, m_settings.options, &error))
                return error;
            break;
        }
        case ClientKind::KeepAlive: {
            const auto *socket = static_cast<KeepAliveSocket *>(connection.client);
            if (socket->keepAliveError() != KeepAliveSocket::KeepAliveError::NoError)
                return socket->keepAliveErrorString();
            break;
        }
        }
        return {};
    }

    // The helper's peer dies once for all connections.
    QString killRemotePeer()
    {
        QString command;
        switch (m_scenario) {
        case Scenario::Idle:
        case Scenario::Busy:
            command = QStringLiteral("silence");
            break;
        case Scenario::Reset:
            command = QStringLiteral("reset");
            break;
        case Scenario::Close:
            command = QStringLiteral("close");
            break;
        }
        QString error;
        m_remote->command(command, &error);
        return error;
    }

    QString killLocalPeer(Connection &connection)
    {
        QString error;
        switch (m_scenario) {
        case Scenario::Idle:
        case Scenario::Busy:
            QtKeepAliveTesting::silence(connection.peer, &error);
            break;
        case Scenario::Reset:
            QtKeepAliveTesting::resetConnection(connection.peer, &error);
            break;
        case Scenario::Close:
            connection.peer->disconnectFromHost();
            break;
        }
        return error;
    }

    QString killPeers()
    {
        if (m_remote) {
            if (QString error = killRemotePeer(); !error.isEmpty())
                return error;
        }
        for (Connection &connection : m_connections) {
            if (!m_remote) {
                if (QString error = killLocalPeer(connection); !error.isEmpty())
                    return error;
            }
            connection.sincePeerDeath.start();
            if (m_scenario == Scenario::Busy) {
                connection.client->write(BusyPayload.data(), BusyPayload.size());
                connection.client->flush();
            }
        }
        m_progress(QStringLiteral("[%1] %2; waiting up to %3 s")
                           .arg(scenarioName(m_scenario), scenarioDescription(m_scenario))
                           .arg(m_settings.wait.count()));
        return {};
    }

    void notice(Connection &connection, const QString &reason)
    {
        // Only what happens after the peers' death counts, not the demo's own clean-up.
        if (!m_observing || connection.noticed())
            return;
        connection.observation.detectedAfter = milliseconds(connection.sincePeerDeath.elapsed());
        connection.observation.reason = reason;
        m_progress(QStringLiteral("[%1]   %2 noticed after %3 s")
                           .arg(scenarioName(m_scenario), clientName(connection.kind),
                                formatSeconds(*connection.observation.detectedAfter)));
    }

    bool allNoticed() const
    {
        return std::all_of(m_connections.begin(), m_connections.end(),
                           [](const Connection &connection) { return connection.noticed(); });
    }

    Scenario m_scenario;
    const DemoSettings &m_settings;
    QTcpServer *m_server;
    QtKeepAliveTesting::PeerControl *m_remote;
    const std::function<void(const QString &)> &m_progress;
    bool m_observing = false;
    std::array<Connection, ClientCount> m_connections;
    // Owns the sockets. Declared last so that it is destroyed first, while the connections that
    // the sockets' signal handlers refer to still exist.
    QObject m_context;
};

} // namespace

QString scenarioName(Scenario scenario)
{
    for (const ScenarioInfo &info : Scenarios) {
        if (info.scenario == scenario)
            return QString::fromLatin1(info.name);
    }
    return {};
}

QString scenarioDescription(Scenario scenario)
{
    switch (scenario) {
    case Scenario::Idle:
        return QStringLiteral("the peers fall silent (a pulled cable, a powered-off host)");
    case Scenario::Busy:
        return QStringLiteral("the peers fall silent, then each client sends %1 bytes")
                .arg(BusyPayload.size());
    case Scenario::Reset:
        return QStringLiteral("the peers send a RST (their process crashed, the host is up)");
    case Scenario::Close:
        return QStringLiteral("the peers close in an orderly way (FIN)");
    }
    return {};
}

std::optional<Scenario> scenarioFromName(const QString &name)
{
    for (const ScenarioInfo &info : Scenarios) {
        if (name == QLatin1String(info.name))
            return info.scenario;
    }
    return std::nullopt;
}

QList<Scenario> allScenarios()
{
    QList<Scenario> result;
    for (const ScenarioInfo &info : Scenarios)
        result.append(info.scenario);
    return result;
}

QString clientName(ClientKind kind)
{
    switch (kind) {
    case ClientKind::Plain:
        return QStringLiteral("QTcpSocket");
    case ClientKind::ByHand:
#if defined(Q_OS_WIN)
        return QStringLiteral("QTcpSocket + WSAIoctl");
#else
        return QStringLiteral("QTcpSocket + setsockopt");
#endif
    case ClientKind::KeepAlive:
        return QStringLiteral("KeepAliveSocket");
    }
    return {};
}

QList<ClientKind> allClients()
{
    return QList<ClientKind>(std::begin(Clients), std::end(Clients));
}

QString formatSeconds(milliseconds value)
{
    return QString::number(double(value.count()) / 1000.0, 'f', 2);
}

bool dataInFlightBounded()
{
    return KeepAliveOptions::supportedFields().testFlag(KeepAliveOptions::Field::UserTimeout);
}

KeepAliveSocket::DeadPeerReason expectedReason(Scenario scenario)
{
    switch (scenario) {
    case Scenario::Idle:
        return KeepAliveSocket::DeadPeerReason::KeepAliveTimeout;
    case Scenario::Busy:
        return KeepAliveSocket::DeadPeerReason::RetransmissionTimeout;
    case Scenario::Reset:
        return KeepAliveSocket::DeadPeerReason::ConnectionReset;
    case Scenario::Close:
        break;
    }
    return KeepAliveSocket::DeadPeerReason::None;
}

DemoResult runDemo(const DemoSettings &settings,
                   const std::function<void(const QString &)> &progress)
{
    DemoResult result;
    QTcpServer server;
    std::optional<QtKeepAliveTesting::PeerControl> remote;
    if (!settings.peerControl.isEmpty()) {
        remote.emplace();
        if (!remote->open(settings.peerControl, &result.error))
            return result;
    } else if (!server.listen(QHostAddress::LocalHost, 0)) {
        result.error = QStringLiteral("cannot listen on 127.0.0.1: %1").arg(server.errorString());
        return result;
    }
    for (Scenario scenario : settings.scenarios) {
#if !defined(Q_OS_LINUX)
        // The peers in this process fall silent through a Linux socket filter.
        if (!remote && (scenario == Scenario::Idle || scenario == Scenario::Busy)) {
            result.notApplicable.append(
                    {scenario,
                     QStringLiteral("silencing a peer on this machine needs Linux socket "
                                    "filters (SO_ATTACH_FILTER); with a Linux host, run the "
                                    "demo under tests/auto/crossfaults/peerhelper.py")});
            continue;
        }
#endif
        ScenarioRun run(scenario, settings, &server, remote ? &*remote : nullptr, progress);
        result.error = run.run();
        if (!result.error.isEmpty()) {
            result.error =
                    QStringLiteral("scenario %1: %2").arg(scenarioName(scenario), result.error);
            break;
        }
        result.observations += run.observations();
    }
    if (remote) {
        QString ignored;
        remote->command(QStringLiteral("teardown"), &ignored);
    }
    return result;
}
