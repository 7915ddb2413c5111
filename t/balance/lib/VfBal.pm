package VfBal;

# Helpers for the balancing/failover tests (t/balance/*.t).  Self-contained:
# no Apache::Test.  One VfBal object is one test bed:
#
#   3 network namespaces vfb1..vfb3, each joined to the root namespace by a
#   veth pair (root side vfbN-h 10.251.N.1/30, namespace side vfbN-n
#   10.251.N.2/30), a php-fpm master in each (pm=static, listen
#   10.251.N.2:9000, ping.path=/ping, env[MEMBER]=N), and one httpd in the
#   root namespace on 127.0.0.1:<free port> with the built mod_vhostfcgi:
#   <Proxy balancer://php> of the three members, a vhost with VhostFcgiPool
#   balancer://php, VhostFcgiHealthCheck and the vhostfcgi-status page.
#
# Everything lives in /tmp/vfbal.XXXX (world-readable) and is removed at
# exit, with the processes, namespaces and links, from an END block that
# also runs on INT/TERM/HUP and when a test dies.  Set VFBAL_KEEP=1 to keep
# the directory for a look at the logs.  Test files take an exclusive lock
# on /tmp/vfbal.lock, so `prove -j` runs them one after the other (they
# share the namespace names).
#
# Only loopback and the 10.251.N.2 test hosts are ever contacted; an
# "unreachable 10.251.0.0/16" route guards against anything for 10.251/16
# leaving through the default route while a link is down.

use strict;
use warnings;
use Exporter 'import';
use Cwd qw(abs_path);
use Fcntl qw(:flock);
use File::Basename qw(dirname);
use File::Copy qw(copy);
use File::Path qw(remove_tree);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP qw(decode_json);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

our @EXPORT = qw(repo_dir httpd_bin write_file run_cmd wait_for
                 free_port modules_dir);

my $REPO = abs_path(dirname(__FILE__) . '/../../..');
my $HTTPD = $ENV{HTTPD} || '/usr/sbin/apache2';
my $FPM = $ENV{PHP_FPM} || '/usr/sbin/php-fpm8.2';
my $MODULES = $ENV{APACHE_MODULES} || '/usr/lib/apache2/modules';
my $USER = 'www-data';
my $OWNER = $$;                 # only this process cleans up
my @LIVE;                       # test beds to clean up
my $LOCK;

sub repo_dir    { $REPO }
sub httpd_bin   { $HTTPD }
sub modules_dir { $MODULES }

END {
    if ($$ == $OWNER) {
        my $rc = $?;
        $_->cleanup for reverse @LIVE;
        $? = $rc;
    }
}
for my $sig (qw(INT TERM HUP)) {
    $SIG{$sig} = sub { print STDERR "# caught SIG$sig, cleaning up\n";
                       exit 1 };
}

sub write_file {
    my ($path, $content, $mode) = @_;
    open my $fh, '>', $path or die "$path: $!\n";
    print $fh $content;
    close $fh or die "$path: $!\n";
    chmod(defined $mode ? $mode : 0644, $path);
    return $path;
}

# Runs a command (list form), stdout and stderr together; (exit code, text).
sub run_cmd {
    my @cmd = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!\n";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

# Polls $cond every $step seconds until it is true or $timeout passed.
sub wait_for {
    my ($cond, $timeout, $step) = @_;
    my $end = time + ($timeout // 10);
    $step //= 0.05;
    while (1) {
        my $v = $cond->();
        return $v if $v || time >= $end;
        sleep $step;
    }
}

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1)
        or die "no free port: $!\n";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub lock_beds {
    return if $LOCK;
    open $LOCK, '>>', '/tmp/vfbal.lock' or die "/tmp/vfbal.lock: $!\n";
    flock($LOCK, LOCK_EX) or die "flock: $!\n";
}

# ------------------------------------------------------------------------
# The test bed
# ------------------------------------------------------------------------

# Options: lbmethod (byrequests), member_params (BalancerMember options),
# health (VhostFcgiHealthCheck options, undef: no health check), children
# (php-fpm pm.max_children per member), balancer_extra (ProxySet lines),
# conf_extra (text at the end of httpd.conf).
sub new {
    my ($class, %o) = @_;
    my $self = bless {
        lbmethod      => 'byrequests',
        member_params => 'timeout=3 connectiontimeout=1 retry=30',
        health        => 'interval=1 timeout=0.5 fails=2 passes=2',
        children      => 10,
        %o,
        members       => [],
        trace         => [],
        last_state    => {},
    }, $class;
    lock_beds();
    $self->{dir} = tempdir('/tmp/vfbal.XXXX', CLEANUP => 0);
    # (httpd's children, as www-data, read htdocs and write nothing here)
    for my $d ($self->{dir}, map { "$self->{dir}/$_" } qw(htdocs logs run)) {
        mkdir $d;
        chmod 0755, $d;
    }
    push @LIVE, $self;
    for my $n (1 .. 3) {
        push @{$self->{members}}, {
            n => $n, ns => "vfb$n", host_if => "vfb$n-h", ns_if => "vfb$n-n",
            host_ip => "10.251.$n.1", ip => "10.251.$n.2",
            dir => "$self->{dir}/fpm$n",
        };
    }
    return $self;
}

sub dir     { $_[0]{dir} }
sub port    { $_[0]{port} }
sub member  { $_[0]{members}[$_[1] - 1] }
sub members { @{$_[0]{members}} }
sub url     { "http://127.0.0.1:$_[0]{port}$_[1]" }
sub sport   { $_[0]{sport} }

# Creates the namespaces and links.  Returns undef, or why they cannot be
# made (the caller skips).
sub netns_unavailable {
    my ($self) = @_;
    return 'needs root (ip netns add)' if $> != 0;
    $self->remove_stale;        # leftovers of an earlier, killed run
    for my $m ($self->members) {
        my ($rc, $out) = run_cmd('ip', 'netns', 'add', $m->{ns});
        if ($rc) {
            chomp $out;
            return "cannot create network namespaces: ip netns add "
                   . "$m->{ns}: $out";
        }
        $self->{net} = 1;
    }
    my ($rc, $out) = run_cmd(qw(ip route replace unreachable 10.251.0.0/16));
    die "ip route: $out" if $rc;
    $self->{guard_route} = 1;
    for my $m ($self->members) {
        for my $cmd (
            [qw(ip link add), $m->{host_if}, qw(type veth peer name),
             $m->{ns_if}],
            [qw(ip link set), $m->{ns_if}, 'netns', $m->{ns}],
            [qw(ip addr add), "$m->{host_ip}/30", 'dev', $m->{host_if}],
            [qw(ip link set), $m->{host_if}, 'up'],
            [qw(ip netns exec), $m->{ns}, qw(ip addr add), "$m->{ip}/30",
             'dev', $m->{ns_if}],
            [qw(ip netns exec), $m->{ns}, qw(ip link set), $m->{ns_if}, 'up'],
            [qw(ip netns exec), $m->{ns}, qw(ip link set lo up)],
        ) {
            my ($rc, $out) = run_cmd(@$cmd);
            return "cannot set up the test network: @$cmd: $out" if $rc;
        }
    }
    return undef;
}

# What a run killed with SIGKILL left behind: its httpd, the php-fpms in
# the namespaces, the namespaces and links.  We hold the lock, so no other
# test bed is alive.
sub remove_stale {
    my ($self) = @_;
    my (undef, $out) = run_cmd('pgrep', '-f', '--',
                               '^/usr/sbin/apache2 -f /tmp/vfbal\.');
    my @httpd = grep { /^\d+$/ && $_ != $$ } split /\s+/, $out;
    kill 'KILL', @httpd if @httpd;
    my (undef, $netns) = run_cmd(qw(ip netns list));
    for my $m ($self->members) {
        next unless $netns =~ /^\Q$m->{ns}\E\b/m;
        my @pids = $self->ns_pids($m->{n});
        kill 'CONT', @pids if @pids;
        kill 'KILL', @pids if @pids;
    }
    $self->remove_net;
    system('ip route del unreachable 10.251.0.0/16 >/dev/null 2>&1');
}

sub remove_net {
    my ($self) = @_;
    my (undef, $links) = run_cmd(qw(ip -o link show));
    my (undef, $netns) = run_cmd(qw(ip netns list));
    for my $m ($self->members) {
        system('ip', 'link', 'del', $m->{host_if})
            if $links =~ /^\d+:\s+\Q$m->{host_if}\E(?:\@|:)/m;
        system('ip', 'netns', 'del', $m->{ns})
            if $netns =~ /^\Q$m->{ns}\E\b/m;
    }
    if ($self->{guard_route}) {
        system('ip route del unreachable 10.251.0.0/16 >/dev/null 2>&1');
        delete $self->{guard_route};
    }
}

# The docroot: who.php says which member answered (optionally after ms=
# milliseconds); slow.php sleeps mN= milliseconds on member N, else ms=.
sub write_docroot {
    my ($self) = @_;
    my $d = "$self->{dir}/htdocs";
    mkdir $d;
    chmod 0755, $d;
    write_file("$d/who.php", <<'PHP');
<?php
$ms = isset($_GET['ms']) ? (int)$_GET['ms'] : 0;
if ($ms > 0) { usleep($ms * 1000); }
header('Content-Type: text/plain');
echo 'member=', getenv('MEMBER'), "\n";
PHP
    write_file("$d/slow.php", <<'PHP');
<?php
$m = getenv('MEMBER');
$ms = isset($_GET["m$m"]) ? (int)$_GET["m$m"]
    : (isset($_GET['ms']) ? (int)$_GET['ms'] : 1000);
usleep($ms * 1000);
header('Content-Type: text/plain');
echo "member=$m\nslept=$ms\n";
PHP
    write_file("$d/static.txt", "static\n");
}

sub write_fpm_conf {
    my ($self, $m) = @_;
    mkdir $m->{dir};
    chmod 0755, $m->{dir};
    write_file("$m->{dir}/php.ini", <<"INI");
[PHP]
display_errors = Off
log_errors = On
error_log = $m->{dir}/php-errors.log
max_execution_time = 60
INI
    write_file("$m->{dir}/php-fpm.conf", <<"CONF");
[global]
pid = $m->{dir}/php-fpm.pid
error_log = $m->{dir}/php-fpm.log
daemonize = yes

[member$m->{n}]
user = $USER
group = $USER
listen = $m->{ip}:9000
listen.backlog = 511
pm = static
pm.max_children = $self->{children}
ping.path = /ping
ping.response = pong
clear_env = yes
env[MEMBER] = $m->{n}
catch_workers_output = yes
CONF
}

# Starts member N's php-fpm in its namespace; dies when it does not start.
sub start_member {
    my ($self, $n) = @_;
    my $m = $self->member($n);
    unlink "$m->{dir}/php-fpm.pid";
    my ($rc, $out) = run_cmd(qw(ip netns exec), $m->{ns}, $FPM,
                             '-y', "$m->{dir}/php-fpm.conf",
                             '-c', "$m->{dir}/php.ini");
    die "php-fpm of member $n did not start: $out\n" . slurp_tail(
        "$m->{dir}/php-fpm.log") if $rc;
    # php-fpm -D returns once its master is ready to take connections.
    my $ready = time;
    wait_for(sub { -s "$m->{dir}/php-fpm.pid" }, 10)
        or die "php-fpm of member $n wrote no pid file\n";
    # All children up: master + children processes in the namespace.
    wait_for(sub { $self->ns_pids($n) >= 1 + $self->{children} }, 10)
        or die "php-fpm of member $n: children missing\n";
    return $ready;
}

# Every process in member N's namespace (php-fpm master and children).
sub ns_pids {
    my ($self, $n) = @_;
    my ($rc, $out) = run_cmd(qw(ip netns pids), $self->member($n)->{ns});
    return grep { /^\d+$/ } split /\s+/, $out;
}

sub signal_member {
    my ($self, $n, $sig) = @_;
    my @pids = $self->ns_pids($n);
    kill $sig, @pids if @pids;
    return scalar @pids;
}

# A process's state letter (R, S, T, Z, ...), undef when it is gone.
sub proc_state {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/stat" or return undef;
    my $stat = <$fh> // return undef;
    return $stat =~ /\) (\S) / ? $1 : undef;
}

# The faults and their repairs.  Each returns (t0, t1): just before it
# began, and when it was complete (checked without spawning a process:
# the processes' states in /proc, the root side's carrier in /sys), so
# that "when the fault hit" is known to a few milliseconds.

# php-fpm master and children SIGKILLed; t1: all of them gone.
sub kill_member {
    my ($self, $n) = @_;
    my @pids = $self->ns_pids($n) or die "member $n: no processes\n";
    my $t0 = time;
    kill 'KILL', @pids;
    wait_for(sub { !grep { (proc_state($_) // 'Z') ne 'Z' } @pids }, 10,
             0.002) or die "member $n: processes survive SIGKILL\n";
    return ($t0, time);
}

# Master and children SIGSTOPped (the listen socket still accepts).
sub stop_member {
    my ($self, $n) = @_;
    my @pids = $self->ns_pids($n) or die "member $n: no processes\n";
    my $t0 = time;
    kill 'STOP', @pids;
    wait_for(sub { !grep { (proc_state($_) // 'T') !~ /^[Tt]$/ } @pids },
             10, 0.002) or die "member $n: not all stopped\n";
    return ($t0, time);
}

sub cont_member {
    my ($self, $n) = @_;
    my @pids = $self->ns_pids($n);
    my $t0 = time;
    kill 'CONT', @pids;
    wait_for(sub { !grep { (proc_state($_) // 'S') =~ /^[Tt]$/ } @pids },
             10, 0.002) or die "member $n: not all continued\n";
    return ($t0, time);
}

# php-fpm started again (after kill_member); t1: its master is ready.
sub restart_member {
    my ($self, $n) = @_;
    my $t0 = time;
    my $ready = $self->start_member($n);
    return ($t0, $ready);
}

# The namespace side of member N's veth link down or up, through an `ip
# -batch` already running in that namespace; t1: the root side's carrier
# followed.
sub link_member {
    my ($self, $n, $updown) = @_;
    my $m = $self->member($n);
    unless ($m->{ipbatch}) {
        open(my $ip, '|-', 'ip', '-n', $m->{ns}, '-force', '-batch', '-')
            or die "ip -batch: $!\n";
        $ip->autoflush(1);
        $m->{ipbatch} = $ip;
    }
    my $carrier = "/sys/class/net/$m->{host_if}/carrier";
    my $want = $updown eq 'up' ? 1 : 0;
    my $t0 = time;
    print {$m->{ipbatch}} "link set $m->{ns_if} $updown\n";
    wait_for(sub {
        open my $fh, '<', $carrier or return 0;
        my $v = <$fh>;
        defined $v && $v + 0 == $want;
    }, 10, 0.002) or die "link $updown of member $n: carrier did not follow\n";
    return ($t0, time);
}

# ------------------------------------------------------------------------
# httpd
# ------------------------------------------------------------------------

# The module, copied into the test dir: readable by www-data whatever the
# checkout's permissions, and not replaced by a rebuild under our feet.
sub module_so {
    my ($self) = @_;
    my $src = "$REPO/.libs/mod_vhostfcgi.so";
    # A rebuild in progress removes it for a moment.
    wait_for(sub { -f $src }, 60) or die "$src missing: run make first\n";
    my $dst = "$self->{dir}/mod_vhostfcgi.so";
    copy($src, $dst) or die "copy $src: $!\n" unless -f $dst;
    chmod 0755, $dst;
    return $dst;
}

# The balancer and the health check; the same text is used by the
# configuration-error tests.
sub balancer_conf {
    my ($self) = @_;
    my $conf = "<Proxy balancer://php>\n";
    for my $m ($self->members) {
        $conf .= "    BalancerMember fcgi://$m->{ip}:9000 "
                 . "$self->{member_params}\n";
    }
    $conf .= "    ProxySet lbmethod=$self->{lbmethod}\n";
    $conf .= "    $_\n" for @{$self->{balancer_extra} || []};
    $conf .= "</Proxy>\n";
    $conf .= "VhostFcgiHealthCheck balancer://php $self->{health}\n"
        if defined $self->{health};
    return $conf;
}

# The whole httpd.conf.  %o: port, extra (text appended at the end).
sub httpd_conf_text {
    my ($self, %o) = @_;
    my $dir = $self->{dir};
    my $so = $self->module_so;
    my $port = $o{port} // $self->{port} // free_port();
    my $sport = $o{sport} // $self->{sport} // free_port();
    my $bal = $o{balancer} // $self->balancer_conf;
    my $extra = $o{extra} // '';
    return <<"CONF";
ServerRoot "$dir"
ServerName localhost
Listen 127.0.0.1:$port
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir/run"
ErrorLog "$dir/logs/error.log"
LogLevel warn vhostfcgi:notice
LogFormat "%{X-Req-Id}i %>s %{BALANCER_WORKER_NAME}e %D" bal
CustomLog "$dir/logs/access.log" bal
User $USER
Group $USER
Timeout 30
KeepAlive On
MaxKeepAliveRequests 0

LoadModule mpm_event_module             $MODULES/mod_mpm_event.so
LoadModule authz_core_module            $MODULES/mod_authz_core.so
LoadModule proxy_module                 $MODULES/mod_proxy.so
LoadModule proxy_balancer_module        $MODULES/mod_proxy_balancer.so
LoadModule lbmethod_byrequests_module   $MODULES/mod_lbmethod_byrequests.so
LoadModule lbmethod_bybusyness_module   $MODULES/mod_lbmethod_bybusyness.so
LoadModule slotmem_shm_module           $MODULES/mod_slotmem_shm.so
LoadModule vhostfcgi_module             $so

StartServers 2
ServerLimit 4
ThreadsPerChild 25
MaxRequestWorkers 100
MinSpareThreads 25
MaxSpareThreads 75

$bal
<VirtualHost 127.0.0.1:$port>
    ServerName bal.test
    DocumentRoot "$dir/htdocs"
    <Directory "$dir/htdocs">
        Require all granted
    </Directory>
    VhostFcgiPool balancer://php
    <Location /status>
        SetHandler vhostfcgi-status
    </Location>
</VirtualHost>

# The main server, on a port of its own: a second status page outside the
# vhost.
Listen 127.0.0.1:$sport
<Location /status>
    SetHandler vhostfcgi-status
</Location>
$extra
CONF
}

sub start_httpd {
    my ($self) = @_;
    my $dir = $self->{dir};
    mkdir "$dir/$_" for qw(logs run);
    chmod 0755, "$dir/logs", "$dir/run";
    $self->{port} = free_port();
    $self->{sport} = free_port() while !$self->{sport}
                                        || $self->{sport} == $self->{port};
    $self->{conf} = write_file("$dir/httpd.conf", $self->httpd_conf_text(
                                   extra => $self->{conf_extra}));
    my ($rc, $out) = run_cmd($HTTPD, '-f', $self->{conf}, '-k', 'start');
    die "httpd did not start ($rc): $out\n" . $self->error_log_tail if $rc;
    wait_for(sub { -s "$dir/httpd.pid" }, 10)
        or die "httpd wrote no pid file\n" . $self->error_log_tail;
    $self->{httpd_pid} = (split ' ', slurp("$dir/httpd.pid"))[0];
    wait_for(sub { $self->status('main') && $self->status('vhost') }, 10)
        or die "httpd does not answer /status?json\n" . $self->error_log_tail;
}

# httpd started from a configuration whose balancer section is $bal (the
# rest as httpd_conf_text makes it); dies when it does not start.  Returns
# the configuration's path.
sub start_httpd_with {
    my ($self, $bal) = @_;
    my $dir = $self->{dir};
    $self->{port} //= free_port();
    $self->{sport} = free_port() while !$self->{sport}
                                        || $self->{sport} == $self->{port};
    my $conf = write_file("$dir/httpd.conf",
                          $self->httpd_conf_text(balancer => $bal));
    my ($rc, $out) = run_cmd($HTTPD, '-f', $conf, '-k', 'start');
    die "httpd did not start ($rc): $out\n" . $self->error_log_tail if $rc;
    $self->{conf} = $conf;
    wait_for(sub { -s "$dir/httpd.pid" }, 10)
        or die "httpd wrote no pid file\n" . $self->error_log_tail;
    $self->{httpd_pid} = (split ' ', slurp("$dir/httpd.pid"))[0];
    return $conf;
}

sub stop_httpd {
    my ($self) = @_;
    my $pid = delete $self->{httpd_pid} or return;
    kill 'TERM', $pid;
    unless (wait_for(sub { !kill(0, $pid) }, 10)) {
        kill 'KILL', -$pid, $pid;   # httpd -k start: its own session
    }
    # Children that outlived their parent.
    for (1 .. 50) {
        my ($rc, $out) = run_cmd('pgrep', '-f', '--',
                                 "apache2 -f $self->{conf}");
        last unless $out =~ /\d/;
        kill 'KILL', grep { /^\d+$/ } split /\s+/, $out;
        sleep 0.1;
    }
}

# Everything up: network (the caller checked netns_unavailable), php-fpm in
# each namespace, httpd; then waits until every member passed a check.
sub start {
    my ($self) = @_;
    $self->write_docroot;
    for my $m ($self->members) {
        $self->write_fpm_conf($m);
        $self->start_member($m->{n});
    }
    $self->start_httpd;
    if (defined $self->{health}) {
        wait_for(sub {
            my $st = $self->backends('main') or return 0;
            3 == grep { $_->{state} eq 'ok' && $_->{health} eq 'ok' }
                 values %$st;
        }, 20) or die "members not all healthy after 20 s:\n"
                      . $self->status_text('main')
                      . $self->error_log_tail;
    }
    return $self;
}

sub cleanup {
    my ($self) = @_;
    return if $self->{cleaned}++;
    my @clients = grep { waitpid($_, WNOHANG) == 0 } @{$self->{load_pids}};
    if (@clients) {
        kill 'KILL', @clients;
        waitpid($_, 0) for @clients;
    }
    eval { $self->stop_httpd };
    $self->stop_misbehave($_) for keys %{$self->{misbehave} || {}};
    for my $m ($self->members) {
        close delete $m->{ipbatch} if $m->{ipbatch};
        my @pids = $self->ns_pids($m->{n});
        kill 'CONT', @pids if @pids;
        kill 'KILL', @pids if @pids;
    }
    $self->remove_net;
    if ($ENV{VFBAL_KEEP}) {
        print STDERR "# VFBAL_KEEP: test bed left in $self->{dir}\n";
    }
    else {
        remove_tree($self->{dir});
    }
}

# ------------------------------------------------------------------------
# The status page
# ------------------------------------------------------------------------

my $STATUS_UA = HTTP::Tiny->new(timeout => 5, keep_alive => 0);

# Two status pages: 'main' (the main server, on its own port) and 'vhost'
# (the <Location /status> in the vhost that serves the PHP).
sub status_url {
    my ($self, $where) = @_;
    return $where && $where eq 'vhost' ? $self->url('/status?json')
         : "http://127.0.0.1:$self->{sport}/status?json";
}

sub status {
    my ($self, $where) = @_;
    my $res = $STATUS_UA->get($self->status_url($where));
    return undef unless $res->{status} == 200;
    my $j = eval { decode_json($res->{content}) } or return undef;
    return $j;
}

sub status_text {
    my ($self, $where) = @_;
    my $res = $STATUS_UA->get($self->status_url($where));
    return "status page ($res->{status}):\n$res->{content}\n";
}

sub member_of_url {
    my ($url) = @_;
    return $url && $url =~ /10\.251\.(\d+)\.2/ ? $1 : undef;
}

# One status page as { N => backend entry } (balancer://php only).
sub backends {
    my ($self, $where) = @_;
    my $j = $self->status($where) or return undef;
    my %by;
    for my $b (@{$j->{backends} || []}) {
        next unless ($b->{balancer} // '') =~ m{balancer://php$};
        my $n = member_of_url($b->{member}) // next;
        $by{$n} = $b;
    }
    return \%by;
}

# One look at both status pages: the main page's { N => backend entry },
# each with {vhost} = the vhost page's entry.  Every change of a member's
# state on either page is appended to the trace: [time, page, N, state,
# health].
sub observe {
    my ($self) = @_;
    my %pages;
    for my $where (qw(main vhost)) {
        my $t0 = time;
        my $by = $self->backends($where);
        my $now = time;
        push @{$self->{fetches}}, [$t0, $now, $where, $by ? 1 : 0];
        return undef unless $by;
        for my $n (sort keys %$by) {
            my $b = $by->{$n};
            my $last = $self->{last_state}{$where}{$n} // '';
            next if $b->{state} eq $last;
            push @{$self->{trace}}, [$now, $where, $n, $b->{state},
                                     $b->{health}];
            $self->{last_state}{$where}{$n} = $b->{state};
        }
        $pages{$where} = $by;
    }
    $pages{main}{$_}{vhost} = $pages{vhost}{$_} for keys %{$pages{main}};
    return $pages{main};
}

# Polls the status pages until $cond->(\%by) is true; the time it first
# was, or undef after $timeout seconds.
sub poll_status {
    my ($self, $cond, $timeout) = @_;
    my $end = time + $timeout;
    while (time < $end) {
        my $by = $self->observe;
        return time if $by && $cond->($by);
        sleep 0.1;
    }
    return undef;
}

# Trace entries since $t0, for member $n and page $where when given.
sub trace_since {
    my ($self, $t0, $n, $where) = @_;
    return grep { $_->[0] >= $t0 && (!defined $n || $_->[2] == $n)
                  && (!defined $where || $_->[1] eq $where) }
           @{$self->{trace}};
}

# ------------------------------------------------------------------------
# t/bin/fcgi-misbehave as a member
# ------------------------------------------------------------------------

# Starts one listening on $sock, a Unix socket (its pid file: $sock.pid)
# or HOST:PORT (its pid file in the bed's directory); cleanup stops it,
# before the directory goes.  Dies when it does not start.
sub start_misbehave {
    my ($self, $sock) = @_;
    my $pidfile = $sock =~ m{/} ? "$sock.pid"
                : "$self->{dir}/misbehave-" . ($sock =~ tr/:/-/r) . '.pid';
    my ($rc, $out) = run_cmd("$REPO/build/bin/fcgi-misbehave", '-l', $sock,
                             '-p', $pidfile, '-d');
    die "fcgi-misbehave on $sock did not start ($rc): $out\n" if $rc;
    $self->{misbehave}{$sock} = $pidfile;
}

# The pid of the one on $sock (its listening process), undef when none.
sub misbehave_pid {
    my ($self, $sock) = @_;
    my $pidfile = $self->{misbehave}{$sock} or return undef;
    my ($pid) = slurp($pidfile) =~ /(\d+)/;
    return $pid;
}

# (SIGCONT after the TERM: one a test SIGSTOPped stops too.)
sub stop_misbehave {
    my ($self, $sock) = @_;
    my $pid = $self->misbehave_pid($sock);
    delete $self->{misbehave}{$sock};
    return unless $pid;
    kill 'TERM', $pid;
    kill 'CONT', $pid;
    wait_for(sub { !kill(0, $pid) }, 5);
}

# ------------------------------------------------------------------------
# httpd with an /etc/hosts of the test's
# ------------------------------------------------------------------------

# From now on httpd (httpd_bin) starts in a mount namespace of its own
# whose /etc/hosts is a file of the test's, bind-mounted: returns its
# path, for set_hosts.  It and the wrapper go at exit.  Needs unshare -m.
# Why a test of httpd with a hosts file of its own (private_hosts) and
# t/bin/fcgi-misbehave members cannot run here, or undef.
sub private_hosts_unavailable {
    return 'needs root (httpd with User www-data)' if $> != 0;
    return 'build/bin/fcgi-misbehave missing: run make first'
        unless -x "$REPO/build/bin/fcgi-misbehave";
    return 'no mount namespaces here (unshare -m)'
        unless system('unshare -m true >/dev/null 2>&1') == 0;
    return undef;
}

sub private_hosts {
    my $dir = tempdir('vfhosts.XXXX', TMPDIR => 1, CLEANUP => 1);
    my $hosts = "$dir/hosts";
    set_hosts($hosts, '');
    write_file("$dir/httpd", "#!/bin/sh\nexec unshare -m --propagation "
               . "private sh -c 'mount --bind \"\$0\" /etc/hosts && exec "
               . "$HTTPD \"\$@\"' $hosts \"\$@\"\n", 0755);
    $HTTPD = "$dir/httpd";
    return $hosts;
}

# The hosts file: localhost, then $text.  Rewritten in place: the bind
# mount holds this inode.
sub set_hosts {
    my ($hosts, $text) = @_;
    my $fh;
    open($fh, '+<', $hosts) or open($fh, '>', $hosts) or die "$hosts: $!\n";
    truncate $fh, 0;
    print $fh "127.0.0.1 localhost\n$text";
    close $fh or die "$hosts: $!\n";
    chmod 0644, $hosts;
}

# The addresses $name resolves to with $hosts as /etc/hosts, in the order
# getaddrinfo gives them (AF_UNSPEC, as httpd asks), one each.
sub resolve_with {
    my ($hosts, $name) = @_;
    my ($rc, $out) = run_cmd('unshare', '-m', '--propagation', 'private',
                             'sh', '-c', 'mount --bind "$0" /etc/hosts && '
                             . 'getent ahosts "$1"', $hosts, $name);
    my %seen;
    return grep { !$seen{$_}++ } $out =~ /^(\S+)\s+STREAM/mg;
}

# ------------------------------------------------------------------------
# Logs
# ------------------------------------------------------------------------

sub slurp {
    my ($path, $from) = @_;
    open my $fh, '<', $path or return '';
    seek $fh, $from, 0 if $from;
    local $/;
    return scalar(<$fh>) // '';
}

sub slurp_tail {
    my ($path, $lines) = @_;
    my @l = split /\n/, slurp($path);
    splice @l, 0, @l - ($lines || 30) if @l > ($lines || 30);
    return join '', map { "  | $_\n" } @l;
}

sub error_log      { "$_[0]{dir}/logs/error.log" }
sub access_log     { "$_[0]{dir}/logs/access.log" }
sub error_log_size { -s $_[0]->error_log || 0 }
sub access_log_size { -s $_[0]->access_log || 0 }
sub error_log_tail { "error.log:\n" . slurp_tail($_[0]->error_log, 40) }

# The error log from byte $from on, once it matches $re; undef when it
# did not within $timeout seconds.
sub wait_log {
    my ($self, $from, $re, $timeout) = @_;
    my $log;
    wait_for(sub {
        $log = slurp($self->error_log, $from);
        $log =~ $re;
    }, $timeout, 0.05) or return undef;
    return $log;
}

# Access log lines from byte offset $from: { req id => [status, member] }.
# httpd writes a request's line after the client has its answer, so a
# test that just got one passes the ids it needs in @$want: they are
# waited for (5 s at most) rather than found missing.
sub access_entries {
    my ($self, $from, $want) = @_;
    my %e;
    my $read = sub {
        %e = ();
        for (split /\n/, slurp($self->access_log, $from)) {
            my ($id, $status, $worker) = split ' ';
            next unless defined $id && $id ne '-';
            $e{$id} = [$status, member_of_url($worker)];
        }
        return !grep { !exists $e{$_} } @{ $want || [] };
    };
    wait_for($read, 5, 0.05) unless $read->();
    return \%e;
}

# ------------------------------------------------------------------------
# Load: N forked clients, bounded in count and time
# ------------------------------------------------------------------------

# %o: clients, total (all clients together), urls (cycled), deadline
# (seconds from now), timeout (per request).  Each client writes one line
# per request to its own file: id t0 t1 status member.  Returns a handle.
sub load {
    my ($self, %o) = @_;
    my $clients = $o{clients} || 8;
    my $total = $o{total} || 1000;
    my $urls = $o{urls} || ['/who.php'];
    my $deadline = time + ($o{deadline} || 60);
    my $timeout = $o{timeout} || 20;
    my $ld = "$self->{dir}/load." . ++$self->{loads};
    mkdir $ld;
    my $load = bless { dir => $ld, pids => [], deadline => $deadline,
                       timeout => $timeout, owner => $self }, 'VfBal::Load';
    for my $c (0 .. $clients - 1) {
        my $count = int($total / $clients) + ($c < $total % $clients);
        my $pid = fork // die "fork: $!\n";
        if ($pid == 0) {
            $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
            my $ua = HTTP::Tiny->new(timeout => $timeout, keep_alive => 1);
            open my $out, '>', "$ld/c$c" or POSIX::_exit(2);
            $out->autoflush(1);
            for my $k (0 .. $count - 1) {
                last if time > $deadline || -e "$ld/stop";
                my $url = $urls->[($c + $k) % @$urls];
                my $id = "c$c-$k";
                my $t0 = time;
                my $res = $ua->get($self->url($url),
                                   { headers => { 'X-Req-Id' => $id } });
                my $t1 = time;
                my $member = ($res->{content} // '') =~ /^member=(\d+)/m
                             ? $1 : '-';
                printf $out "%s %.6f %.6f %d %s\n", $id, $t0, $t1,
                    $res->{status}, $member;
            }
            close $out;
            POSIX::_exit(0);
        }
        push @{$load->{pids}}, $pid;
        push @{$self->{load_pids}}, $pid;
    }
    return $load;
}

package VfBal::Load;

use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

# The requests answered so far (or all, after finish): list of hashes.
sub results {
    my ($self) = @_;
    my @r;
    for my $f (glob "$self->{dir}/c*") {
        open my $fh, '<', $f or next;
        while (<$fh>) {
            my ($id, $t0, $t1, $status, $member) = split ' ';
            next unless defined $member;    # a line being written
            push @r, { id => $id, t0 => $t0, t1 => $t1, status => $status,
                       member => $member eq '-' ? undef : $member };
        }
    }
    return @r;
}

sub stop {
    my ($self) = @_;
    open my $fh, '>', "$self->{dir}/stop";
    close $fh;
}

# Waits for the clients to run their course (or, with stop => 1, to finish
# the request each is in); returns all results.
sub finish {
    my ($self, %o) = @_;
    $self->stop if $o{stop};
    my $end = $self->{deadline} + $self->{timeout} + 5;
    my @left = @{$self->{pids}};
    while (@left && time < $end) {
        @left = grep { waitpid($_, WNOHANG) == 0 } @left;
        sleep 0.05 if @left;
    }
    if (@left) {
        kill 'KILL', @left;
        waitpid($_, 0) for @left;
        $self->{killed} = scalar @left;
    }
    $self->{pids} = [];
    return $self->results;
}

sub DESTROY {
    my ($self) = @_;
    if (@{$self->{pids} || []}) {
        kill 'KILL', @{$self->{pids}};
        waitpid($_, 0) for @{$self->{pids}};
    }
}

1;
