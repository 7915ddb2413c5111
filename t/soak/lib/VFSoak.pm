package VFSoak;

# Helpers for `make soak` (scripts/soak, t/soak/soak.pl) and the client-fault
# tests (t/clientfault/*.t): a private httpd (mpm_event) with the built
# module in front of spawner pools or fcgi-misbehave, all under one temp
# dir; process lookups (/proc); and an HTTP/1.1 client that can keep
# connections alive, drip or abort an upload, and walk away from a response.
#
# The module, the spawner and fcgi-misbehave are copied into the temp dir
# first: other work may rebuild them in the tree while a run is going, and
# an mmapped .so rewritten in place would crash httpd for reasons of no
# interest here.  VF_MODULE / VF_SPAWN_BIN / VF_MISBEHAVE_BIN pick other
# builds (e.g. sanitized ones).
#
# Every wait is bounded; everything started is stopped at exit (END).

use strict;
use warnings;
use Exporter 'import';
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

our @EXPORT = qw(
    repo_root ensure_user test_dir write_file read_file wait_for free_port
    snapshot_bins children_of proc_comm proc_age proc_uid rss_kb worker_syscall
    httpd_start httpd_stop httpd_children httpd_rss spawner_of pool_workers
    php_pool_conf php_site
    misbehave_start misbehave_stop status_json log_size log_since
    crash_lines
);

my $ROOT = abs_path(dirname(__FILE__) . '/../../..');
my (@HTTPDS, @MISBEHAVES);
my $OWNER = $$;

sub repo_root { $ROOT }

# httpd's children and the pool workers run as these (created if missing).
our $WEB = 'vfsoak-web';
our @POOL_USERS = qw(vfsoak-a vfsoak-b);

sub ensure_user {
    my ($name) = @_;
    return if defined getpwnam($name);
    system('useradd', '--system', '--no-create-home', '--home-dir',
           '/nonexistent', '--shell', '/usr/sbin/nologin', '--user-group',
           $name) == 0
        or die "useradd $name failed\n";
}

sub test_dir {
    my ($prefix) = @_;
    my $dir = tempdir("/tmp/${\ ($prefix // 'vfsoak')}.XXXXXX",
                      CLEANUP => !$ENV{VF_KEEP});
    chmod 0755, $dir;
    return $dir;
}

sub write_file {
    my ($path, $content, $mode) = @_;
    my $tmp = "$path.tmp$$";
    open my $fh, '>', $tmp or die "$tmp: $!\n";
    print $fh $content;
    close $fh or die "$tmp: $!\n";
    chmod(defined $mode ? $mode : 0644, $tmp);
    rename $tmp, $path or die "rename $path: $!\n";
    return $path;
}

sub read_file {
    my ($path, $from) = @_;
    open my $fh, '<', $path or return '';
    seek $fh, $from, 0 if $from;
    local $/;
    return scalar(<$fh>) // '';
}

sub log_size { -s $_[0] // 0 }
sub log_since { read_file($_[0], $_[1]) }

# Lines that mean an httpd child died of a signal ("exit signal
# Segmentation fault (11)") or glibc/ASan noticed heap corruption.
sub crash_lines {
    my ($text) = @_;
    return grep { /exit signal|AddressSanitizer|double free|corrupted|
                   malloc\(\)|free\(\)|stack smashing|Aborted/x }
           split /\n/, $text;
}

sub wait_for {
    my ($cond, $timeout, $step) = @_;
    my $end = time + ($timeout // 10);
    while (1) {
        my $v = $cond->();
        return $v if $v || time >= $end;
        sleep($step // 0.05);
    }
}

sub free_port {
    for (1 .. 200) {
        my $p = 20000 + int(rand(30000));
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $p, Listen => 1,
                                      ReuseAddr => 0)
            or next;
        close $s;
        return $p;
    }
    die "no free port\n";
}

# Copies of the module, the spawner and fcgi-misbehave in DIR/bin.
sub snapshot_bins {
    my ($dir) = @_;
    mkdir "$dir/bin";
    chmod 0755, "$dir/bin";
    my %src = (
        'mod_vhostfcgi.so' => $ENV{VF_MODULE} // "$ROOT/.libs/mod_vhostfcgi.so",
        'vhostfcgi-spawn'  => $ENV{VF_SPAWN_BIN} // "$ROOT/build/vhostfcgi-spawn",
        'fcgi-misbehave'   => $ENV{VF_MISBEHAVE_BIN}
                              // "$ROOT/build/bin/fcgi-misbehave",
    );
    my %bin;
    for my $name (sort keys %src) {
        -f $src{$name} or die "$src{$name} missing: run make\n";
        copy($src{$name}, "$dir/bin/$name") or die "copy $src{$name}: $!\n";
        chmod 0755, "$dir/bin/$name";
        $bin{$name} = "$dir/bin/$name";
    }
    return \%bin;
}

# ------------------------------------------------------------------
# /proc
# ------------------------------------------------------------------

sub _stat_fields {
    my ($pid) = @_;
    my $s = read_file("/proc/$pid/stat") or return;
    $s =~ /^\d+ \((.*)\) (.*)$/s or return;
    return ($1, split ' ', $2);     # comm, state, ppid, ...
}

sub children_of {
    my ($ppid) = @_;
    my @pids;
    opendir my $d, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $d) {
        my ($comm, $state, $pp) = _stat_fields($p) or next;
        push @pids, $p if defined $pp && $pp == $ppid && $state ne 'Z';
    }
    return sort { $a <=> $b } @pids;
}

sub proc_comm { my ($c) = _stat_fields($_[0]); $c }

# Seconds since the process started.
sub proc_age {
    my @f = _stat_fields($_[0]) or return undef;
    my ($up) = split ' ', read_file('/proc/uptime');
    return $up - $f[20] / POSIX::sysconf(POSIX::_SC_CLK_TCK());
}

sub proc_uid {
    my $s = read_file("/proc/$_[0]/status");
    return $s =~ /^Uid:\s+(\d+)/m ? $1 : undef;
}

sub rss_kb {
    my $s = read_file("/proc/$_[0]/status");
    return $s =~ /^VmRSS:\s+(\d+)/m ? $1 : 0;
}

# The syscall a process sits in: a number, "running", or undef (gone).
sub worker_syscall {
    my $s = read_file("/proc/$_[0]/syscall");
    return undef unless length $s;
    return $s =~ /^(-?\d+)/ ? $1 : 'running';
}

# ------------------------------------------------------------------
# httpd
# ------------------------------------------------------------------

# httpd_start(dir => D, vhosts => [{name, root, pool, extra}], pools =>
#             TEXT (written to D/pools.conf), spawner => 1, bins => {...},
#             extra => TEXT, loglevel => 'warn')
# Starts httpd (mpm_event: 2 children x 32 threads, fixed, so the set of
# children only changes if one dies); returns a handle.
sub httpd_start {
    my (%o) = @_;
    my $dir = $o{dir};
    my $bins = $o{bins};
    my $port = $o{port} // free_port();
    my $modules = `apxs -q LIBEXECDIR`;
    chomp $modules;
    mkdir "$dir/$_" for qw(logs run hrun);
    chmod 0755, "$dir/run";
    my $pools_file = "$dir/pools.conf";
    write_file($pools_file, $o{pools}) if defined $o{pools};

    my $vhosts = '';
    for my $v (@{ $o{vhosts} }) {
        my $pool = defined $v->{pool} ? "    VhostFcgiPool $v->{pool}\n" : '';
        $vhosts .= <<EOV;
<VirtualHost 127.0.0.1:$port>
    ServerName $v->{name}
    DocumentRoot "$v->{root}"
$pool    <Directory "$v->{root}">
        Require all granted
    </Directory>
    <Location /vhostfcgi-status>
        SetHandler vhostfcgi-status
    </Location>
@{[ $v->{extra} // '' ]}
</VirtualHost>
EOV
    }
    my $pools = defined $o{pools} ? "VhostFcgiPoolsFile $pools_file\n" : '';
    $pools .= "VhostFcgiSpawner $bins->{'vhostfcgi-spawn'}\n" if $o{spawner};
    my $conf = <<EOC;
ServerRoot "$dir"
ServerName localhost
Listen 127.0.0.1:$port
PidFile "$dir/hrun/httpd.pid"
DefaultRuntimeDir "$dir/hrun"
ErrorLog "$dir/logs/error.log"
LogLevel @{[ $o{loglevel} // 'warn' ]}
LogFormat "%v %h %t \\"%r\\" %>s %b %D %X" vtimed
CustomLog "$dir/logs/access.log" vtimed
User $WEB
Group $WEB

LoadModule mpm_event_module  $modules/mod_mpm_event.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule proxy_module      $modules/mod_proxy.so
LoadModule vhostfcgi_module  $bins->{'mod_vhostfcgi.so'}

StartServers           2
ServerLimit            2
ThreadsPerChild        32
MaxRequestWorkers      64
MinSpareThreads        1
MaxSpareThreads        64
MaxConnectionsPerChild 0
KeepAlive              On
MaxKeepAliveRequests   0
KeepAliveTimeout       30
Timeout                @{[ $o{timeout} // 30 ]}

$pools
@{[ $o{extra} // '' ]}
$vhosts
EOC
    write_file("$dir/httpd.conf", $conf);
    my $h = { dir => $dir, port => $port, conf => "$dir/httpd.conf",
              pidfile => "$dir/hrun/httpd.pid", errlog => "$dir/logs/error.log",
              pools_file => $pools_file, httpd => $ENV{HTTPD}
              // '/usr/sbin/apache2' };
    my $out = `'$h->{httpd}' -f '$h->{conf}' -k start 2>&1`;
    die "httpd did not start: $out\n" . read_file($h->{errlog}) if $?;
    push @HTTPDS, $h;
    wait_for(sub { -s $h->{pidfile} }, 10)
        or die "httpd: no pid file\n" . read_file($h->{errlog});
    $h->{pid} = 0 + read_file($h->{pidfile});
    # Up when a request gets any answer from a child.
    wait_for(sub {
        my $c = VFSoak::Client->new(port => $port, timeout => 2);
        my $r = $c->request(host => $o{vhosts}[0]{name}, path => '/nonexistent');
        $c->close;
        return $r->{status};
    }, 15) or die "httpd does not answer\n" . read_file($h->{errlog});
    if ($o{spawner}) {
        wait_for(sub { spawner_of($h) }, 10)
            or die "spawner not running\n" . read_file($h->{errlog});
    }
    return $h;
}

# The usual start of a test of one site behind httpd and the spawner: its
# users, a test directory ($prefix.XXXX) with a copy of the binaries, and
# $dir/site holding %files (name => content).  Returns ($dir, $bins).
sub php_site {
    my ($prefix, %files) = @_;
    ensure_user($_) for $WEB, 'vfsoak-a';
    my $dir = test_dir($prefix);
    my $bins = snapshot_bins($dir);
    mkdir "$dir/site";
    chmod 0755, "$dir/site";
    write_file("$dir/site/$_", $files{$_}) for sort keys %files;
    return ($dir, $bins);
}

# A pools file for httpd_start's spawner: [global] under $o{dir}, and one
# php-cgi pool $o{name} run as $o{user}, which httpd's user may connect to;
# $o{pm} are its pm settings (NAME => VALUE pairs, in order).
sub php_pool_conf {
    my (%o) = @_;
    my @pm = @{ $o{pm} };
    my $text = <<EOC;
[global]
run_dir   = $o{dir}/run
error_log = $o{dir}/logs/spawn.log
log_level = @{[ $o{log_level} // 'info' ]}

[$o{name}]
command      = /usr/bin/php-cgi8.2
user         = $o{user}
listen.owner = $WEB
listen.group = $WEB
listen.mode  = 0660
EOC
    while (my ($k, $v) = splice @pm, 0, 2) {
        $text .= "$k = $v\n";
    }
    return $text;
}

# httpd's children other than the spawner.
sub httpd_children {
    my ($h) = @_;
    return grep { (proc_comm($_) // '') ne 'vhostfcgi-spawn' }
           children_of($h->{pid});
}

sub spawner_of {
    my ($h) = @_;
    my ($sp) = grep { (proc_comm($_) // '') eq 'vhostfcgi-spawn' }
               children_of($h->{pid});
    return $sp;
}

# { parent => KB, children => KB, total => KB, n => number of children }
sub httpd_rss {
    my ($h) = @_;
    my @kids = httpd_children($h);
    my $kids = 0;
    $kids += rss_kb($_) for @kids;
    my $parent = rss_kb($h->{pid});
    return { parent => $parent, children => $kids, total => $parent + $kids,
             n => scalar @kids, pids => \@kids };
}

# Workers of a pool: children of the spawner with env SOAK_POOL=NAME.
sub pool_workers {
    my ($sp, $pool) = @_;
    my @pids;
    for my $p (children_of($sp)) {
        my $env = read_file("/proc/$p/environ");
        push @pids, $p if $env =~ /(?:^|\0)SOAK_POOL=\Q$pool\E(?:\0|$)/;
    }
    return @pids;
}

# Stops httpd (and with it the spawner and its workers), bounded; kills
# whatever is left.
sub httpd_stop {
    my ($h) = @_;
    return if $h->{stopped}++;
    my $pid = $h->{pid} or return;
    my @left = children_of($pid);
    my $sp = spawner_of($h);
    push @left, children_of($sp) if $sp;
    kill 'TERM', $pid;
    wait_for(sub { !kill(0, $pid) }, 20, 0.1);
    kill 'KILL', $pid if kill 0, $pid;
    wait_for(sub { !grep { kill 0, $_ } @left }, 10, 0.1);
    kill 'KILL', grep { kill 0, $_ } @left;
}

sub misbehave_start {
    my (%o) = @_;
    my $pidfile = "$o{dir}/run/mbh.pid";
    mkdir "$o{dir}/run";
    my $log = "$o{dir}/logs/misbehave.log";
    mkdir "$o{dir}/logs";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        exec($o{bin}, '-l', $o{sock}, '-p', $pidfile, @{ $o{args} || [] }) or POSIX::_exit(127);
    }
    my $m = { pid => $pid, sock => $o{sock}, log => $log };
    push @MISBEHAVES, $m;
    wait_for(sub { -S $o{sock} && -s $pidfile }, 10)
        or die "fcgi-misbehave did not start\n" . read_file($log);
    return $m;
}

sub misbehave_stop {
    my ($m) = @_;
    return if $m->{stopped}++;
    kill 'TERM', $m->{pid};
    wait_for(sub { waitpid($m->{pid}, WNOHANG) != 0 }, 10, 0.05)
        or do { kill 'KILL', $m->{pid}; waitpid($m->{pid}, 0) };
}

END {
    if ($$ == $OWNER) {
        my $rc = $?;
        httpd_stop($_) for @HTTPDS;
        misbehave_stop($_) for @MISBEHAVES;
        $? = $rc;
    }
}

# The status page's pools, by name: { NAME => {open, idle, busy, ...} }.
sub status_json {
    my ($h, $host) = @_;
    require JSON::PP;
    my $c = VFSoak::Client->new(port => $h->{port}, timeout => 10);
    my $r = $c->request(host => $host, path => '/vhostfcgi-status?json');
    $c->close;
    return undef unless ($r->{status} // 0) == 200;
    my $j = eval { JSON::PP::decode_json($r->{body}) } or return undef;
    return { map { $_->{name} => $_ } @{ $j->{pools} || [] } };
}

# ==================================================================
# An HTTP/1.1 client on one keep-alive connection (reopened as needed).
# ==================================================================
package VFSoak::Client;

use strict;
use warnings;
use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use IO::Select;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time sleep);

sub new {
    my ($class, %o) = @_;
    return bless { port => $o{port}, timeout => $o{timeout} // 60,
                   sock => undef, served => 0 }, $class;
}

sub close {
    my ($self) = @_;
    if ($self->{sock}) {
        CORE::close($self->{sock});
        $self->{sock} = undef;
    }
}

sub _connect {
    my ($self) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $self->{port}, Proto => 'tcp',
                                  Timeout => 10)
        or return undef;
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
    $s->blocking(0);
    $self->{sock} = $s;
    $self->{served} = 0;
    $self->{rbuf} = '';
    return $s;
}

# Writes all of $data before $deadline.  Returns '' or an error string.
sub _write {
    my ($self, $data, $deadline) = @_;
    my $s = $self->{sock};
    my $off = 0;
    my $sel = IO::Select->new($s);
    local $SIG{PIPE} = 'IGNORE';
    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        if (defined $n) {
            $off += $n;
            next;
        }
        return "write: $!" unless $! == EAGAIN || $! == EWOULDBLOCK
                                  || $! == EINTR;
        my $left = $deadline - time;
        return 'write timeout' if $left <= 0;
        $sel->can_write($left > 1 ? 1 : $left);
    }
    return '';
}

# Reads more into rbuf.  Returns bytes read, 0 at EOF, undef on error
# (error string in $self->{rerr}).
sub _fill {
    my ($self, $deadline) = @_;
    my $s = $self->{sock};
    my $sel = IO::Select->new($s);
    while (1) {
        my $n = sysread($s, $self->{rbuf}, 262144, length $self->{rbuf});
        return $n if defined $n;
        if ($! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
            $self->{rerr} = "read: $!";
            return undef;
        }
        my $left = $deadline - time;
        if ($left <= 0) {
            $self->{rerr} = 'read timeout';
            return undef;
        }
        $sel->can_read($left > 1 ? 1 : $left);
    }
}

# request(method => GET, host => H, path => P, body => B, chunked => 0,
#         headers => {..}, drip => [pieces, seconds between],
#         abort_after => N (send N body bytes, then close: no answer),
#         declare => LEN (Content-Length to announce instead of length B),
#         read_limit => N (close after N body bytes of the answer),
#         stall => S (read nothing for S seconds after the headers, then
#                     close), leave => S (close S seconds after sending,
#                     without reading), timeout => S)
# Returns { status, headers => {lc name => value}, body, error, reused,
#           body_bytes, complete, time }.
sub request {
    my ($self, %o) = @_;
    my $t0 = time;
    my $deadline = $t0 + ($o{timeout} // $self->{timeout});
    my $r = { status => undef, headers => {}, body => '', error => undef,
              body_bytes => 0, complete => 0 };
    my $method = $o{method} // (defined $o{body} ? 'POST' : 'GET');
    $r->{reused} = $self->{sock} ? 1 : 0;
    if (!$self->{sock} && !$self->_connect) {
        $r->{error} = "connect: $!";
        return $r;
    }
    my $body = $o{body};
    my $head = "$method $o{path} HTTP/1.1\r\nHost: $o{host}\r\n";
    $head .= "$_: $o{headers}{$_}\r\n" for sort keys %{ $o{headers} || {} };
    if (defined $body) {
        $head .= "Content-Type: application/octet-stream\r\n"
            unless $o{headers} && $o{headers}{'Content-Type'};
        $head .= $o{chunked} ? "Transfer-Encoding: chunked\r\n"
               : "Content-Length: " . ($o{declare} // length $body) . "\r\n";
    }
    $head .= "\r\n";

    # The body as the pieces that go out one by one.
    my @pieces;
    if (defined $body) {
        my $n = $o{drip} ? $o{drip}[0] : 1;
        my $size = int((length($body) + $n - 1) / $n) || 1;
        for (my $i = 0; $i < length $body; $i += $size) {
            push @pieces, substr($body, $i, $size);
        }
        if (defined $o{abort_after}) {
            # The pieces up to abort_after bytes, the last one cut.
            my ($left, @keep) = ($o{abort_after});
            while (@pieces && $left > 0) {
                my $p = shift @pieces;
                $p = substr($p, 0, $left) if length $p > $left;
                $left -= length $p;
                push @keep, $p;
            }
            @pieces = @keep;
        }
        if ($o{chunked}) {
            @pieces = map { sprintf("%x\r\n", length $_) . $_ . "\r\n" }
                      grep { length } @pieces;
            push @pieces, "0\r\n\r\n" unless defined $o{abort_after};
        }
    }
    my $err = $self->_write($head . (@pieces && !$o{drip} ? shift @pieces
                                                         : ''), $deadline);
    while (!$err && @pieces) {
        sleep $o{drip}[1] if $o{drip};
        $err = $self->_write(shift @pieces, $deadline);
    }
    if (defined $o{abort_after} || defined $o{leave}) {
        # An upload given up, or a client that leaves before the answer.
        sleep $o{leave} if $o{leave} && !$err;
        $self->close;
        $r->{error} = $err || 'aborted by the client';
        $r->{time} = time - $t0;
        return $r;
    }
    # Even when a write failed, an answer may be there (an early 4xx/5xx).
    $self->_read_response($r, $deadline, %o);
    $r->{error} //= $err if $err && !$r->{complete};
    $r->{time} = time - $t0;
    $self->{served}++ if $r->{complete};
    return $r;
}

sub _read_response {
    my ($self, $r, $deadline, %o) = @_;
    my $got_any = 0;
    # Status line and headers.
    while ($self->{rbuf} !~ /\r\n\r\n/) {
        my $n = $self->_fill($deadline);
        if (!$n) {
            $r->{error} = defined $n
                ? (length $self->{rbuf} ? 'closed inside the headers'
                   : 'closed before any response byte')
                : $self->{rerr};
            $r->{error} .= ' (reused connection)' if $r->{reused};
            $self->close;
            return;
        }
    }
    my $end = index($self->{rbuf}, "\r\n\r\n");
    my $head = substr($self->{rbuf}, 0, $end);
    substr($self->{rbuf}, 0, $end + 4) = '';
    my ($status_line, @lines) = split /\r\n/, $head;
    if ($status_line !~ m{^HTTP/1\.(\d) (\d{3})}) {
        $r->{error} = "bad status line: $status_line";
        $self->close;
        return;
    }
    my $minor = $1;
    $r->{status} = $2;
    for (@lines) {
        my ($k, $v) = split /:\s*/, $_, 2;
        $k = lc $k;
        $r->{headers}{$k} = exists $r->{headers}{$k}
            ? "$r->{headers}{$k}, $v" : $v;
    }
    my $close = $minor eq '0'
        || ($r->{headers}{connection} // '') =~ /close/i;
    my $te = $r->{headers}{'transfer-encoding'} // '';
    my $cl = $r->{headers}{'content-length'};
    my $keep_body = !defined $o{discard_body};
    my $limit = $o{read_limit};

    if (defined $limit && $limit == 0) {
        $r->{error} = 'client closed after the response headers';
        $self->_abort;
        return;
    }
    if ($o{stall}) {
        sleep $o{stall};
        $r->{error} = 'client stalled, then closed';
        $self->_abort;
        return;
    }
    my $take = sub {    # body bytes (decoded)
        my ($data) = @_;
        $r->{body_bytes} += length $data;
        $r->{body} .= $data if $keep_body;
    };
    my $check_limit = sub {
        return 0 unless defined $limit && $r->{body_bytes} >= $limit;
        $r->{error} = "client closed after $r->{body_bytes} body bytes";
        $self->_abort;
        return 1;
    };
    if (($o{method} // '') eq 'HEAD' || $r->{status} =~ /^(1..|204|304)$/) {
        $r->{complete} = 1;
    }
    elsif ($te =~ /chunked/i) {
        my $chunk_left = -1;        # -1: expecting a size line
        while (1) {
            if ($chunk_left < 0) {
                if ($self->{rbuf} =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
                    $chunk_left = hex $1;
                    if ($chunk_left == 0) {
                        # Trailers (none expected) up to the empty line.
                        while ($self->{rbuf} !~ /^(?:[^\r\n]+\r\n)*\r\n/) {
                            my $n = $self->_fill($deadline);
                            if (!$n) {
                                $r->{error} = 'truncated in the trailer';
                                $self->close;
                                return;
                            }
                        }
                        $self->{rbuf} =~ s/^(?:[^\r\n]+\r\n)*\r\n//;
                        $r->{complete} = 1;
                        last;
                    }
                    next;
                }
                if (length $self->{rbuf} > 64
                    && $self->{rbuf} !~ /^[0-9a-fA-F]+/) {
                    $r->{error} = 'bad chunk size line';
                    $self->close;
                    return;
                }
            }
            elsif ($chunk_left > 0 && length $self->{rbuf}) {
                my $n = length $self->{rbuf} < $chunk_left
                    ? length $self->{rbuf} : $chunk_left;
                $take->(substr($self->{rbuf}, 0, $n, ''));
                $chunk_left -= $n;
                return if $check_limit->();
                next;
            }
            elsif ($chunk_left == 0 && length $self->{rbuf} >= 2) {
                if (substr($self->{rbuf}, 0, 2, '') ne "\r\n") {
                    $r->{error} = 'chunk not followed by CRLF';
                    $self->close;
                    return;
                }
                $chunk_left = -1;
                next;
            }
            my $n = $self->_fill($deadline);
            if (!$n) {
                $r->{error} = defined $n
                    ? "truncated: connection closed inside the chunked body "
                      . "after $r->{body_bytes} bytes"
                    : $self->{rerr};
                $self->close;
                return;
            }
        }
    }
    elsif (defined $cl) {
        while (1) {
            if (length $self->{rbuf}) {
                my $want = $cl - $r->{body_bytes};
                my $n = length $self->{rbuf} < $want ? length $self->{rbuf}
                                                     : $want;
                $take->(substr($self->{rbuf}, 0, $n, ''));
                return if $check_limit->();
            }
            if ($r->{body_bytes} >= $cl) {
                $r->{complete} = 1;
                last;
            }
            my $n = $self->_fill($deadline);
            if (!$n) {
                $r->{error} = defined $n
                    ? "truncated: $r->{body_bytes} of $cl bytes"
                    : $self->{rerr};
                $self->close;
                return;
            }
        }
    }
    else {
        # Delimited by the end of the connection.
        $close = 1;
        while (1) {
            $take->(substr($self->{rbuf}, 0, length $self->{rbuf}, ''))
                if length $self->{rbuf};
            return if $check_limit->();
            my $n = $self->_fill($deadline);
            if (!defined $n) {
                $r->{error} = $self->{rerr};
                $self->close;
                return;
            }
            last if $n == 0;
        }
        $r->{complete} = 1;
    }
    $self->close if $close;
}

# Closes with unread data: the kernel answers the peer with a reset, as
# when a browser tab is closed mid-download.
sub _abort {
    my ($self) = @_;
    $self->close;
}

1;
