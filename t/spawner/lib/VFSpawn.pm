package VFSpawn;

# Helpers for the vhostfcgi-spawn tests (t/spawner/*.t): a temp dir with a
# pools file and site scripts, test users, a spawner in the foreground, a
# small FastCGI client (FCGI::Client has no FCGI_KEEP_CONN and dies on
# errors; these tests count errors), load generators, worker lookup.
#
# Every wait is a bounded poll; every spawner started is stopped at exit
# (END block), and so are its workers.

use strict;
use warnings;
use Exporter 'import';
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use POSIX qw(:sys_wait_h);
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(time sleep);

our @EXPORT = qw(
    spawn_bin ensure_user test_dir write_file start_spawner stop_spawner
    wait_for fcgi_request parallel_requests load_start load_stop
    pool_workers spawner_status status_row log_text uid_of gid_of
    children_of php_pools_conf skip_unless_ready proc_limits
);

my $ROOT = abs_path(dirname(__FILE__) . '/../../..');
my @SPAWNERS;

# VF_SPAWN_BIN: another build, e.g. one with -fsanitize=address.
sub spawn_bin { $ENV{VF_SPAWN_BIN} // "$ROOT/build/vhostfcgi-spawn" }

# Skips the whole test file unless it runs as root with the spawner built.
sub skip_unless_ready {
    require Test::More;
    Test::More::plan(skip_all => 'needs root') if $> != 0;
    Test::More::plan(skip_all => 'build/vhostfcgi-spawn missing (make spawner)')
        unless -x spawn_bin();
}

sub uid_of { (getpwnam($_[0]))[2] }
sub gid_of { (getgrnam($_[0]))[2] }

# A system user with a group of the same name, created when missing.
sub ensure_user {
    my ($name) = @_;
    return if defined getpwnam($name);
    system('useradd', '--system', '--no-create-home', '--shell',
           '/usr/sbin/nologin', '--user-group', $name) == 0
        or die "useradd $name failed\n";
}

# /tmp/vfspawn.XXXX, traversable by the pool users, removed at exit.
sub test_dir {
    my $dir = tempdir('/tmp/vfspawn.XXXX', CLEANUP => 1);
    chmod 0755, $dir;
    return $dir;
}

sub write_file {
    my ($path, $content, $mode) = @_;
    open my $fh, '>', $path or die "$path: $!\n";
    print $fh $content;
    close $fh;
    chmod(defined $mode ? $mode : 0644, $path);
    return $path;
}

# $dir/pools.conf with run_dir $dir/run and php-cgi pools run as
# vf-alice, each marked with env[VF_TEST_POOL] (for pool_workers):
# php_pools_conf($dir, NAME => [KEY => VALUE, ...], ...); a pool's keys
# come after command and user, in the order given, and may override them.
sub php_pools_conf {
    my ($dir, @pools) = @_;
    my $text = "[global]\nrun_dir = $dir/run\n";
    while (my ($name, $keys) = splice @pools, 0, 2) {
        my @kv = (command => '/usr/bin/php-cgi8.2', user => 'vf-alice', @$keys);
        my (%last, @order);
        while (my ($k, $v) = splice @kv, 0, 2) {
            push @order, $k unless exists $last{$k};
            $last{$k} = $v;
        }
        $text .= "\n[$name]\n" . join('', map { "$_ = $last{$_}\n" } @order)
               . "env[VF_TEST_POOL] = \$pool\n";
    }
    return write_file("$dir/pools.conf", $text);
}

# [soft, hard] of one row of /proc/PID/limits ("Max open files  1024  4096  files").
sub proc_limits {
    my ($pid, $row) = @_;
    open my $fh, '<', "/proc/$pid/limits" or return [];
    while (<$fh>) {
        return [$1, $2] if /^\Q$row\E\s+(\S+)\s+(\S+)/;
    }
    return [];
}

sub log_text {
    my ($s) = @_;
    open my $fh, '<', $s->{log} or return '';
    local $/;
    return scalar <$fh>;
}

# Polls $cond every $step seconds until true or $timeout; returns its value.
sub wait_for {
    my ($cond, $timeout, $step) = @_;
    $timeout //= 10;
    $step //= 0.02;
    my $end = time + $timeout;
    while (1) {
        my $v = $cond->();
        return $v if $v;
        return $v if time >= $end;
        sleep $step;
    }
}

# Starts `vhostfcgi-spawn -F -c CONF`, stdout+stderr to DIR/spawner.log,
# and waits for its "ready" line (or its exit).
sub start_spawner {
    my (%o) = @_;
    my $log = $o{log} // "$o{dir}/spawner.log";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        # VF_SPAWN_WRAP="valgrind --leak-check=full ..." runs it under a tool.
        my @wrap = split ' ', $ENV{VF_SPAWN_WRAP} // '';
        exec @wrap, spawn_bin(), '-F', '-c', $o{conf}, @{ $o{args} || [] };
        exit 127;
    }
    my $s = { pid => $pid, log => $log, conf => $o{conf}, dir => $o{dir} };
    push @SPAWNERS, $s;
    my $ready = wait_for(sub {
        return 'exited' if waitpid($pid, WNOHANG) == $pid;
        return log_text($s) =~ /ready: / ? 'ready' : '';
    }, $ENV{VF_SPAWN_WRAP} ? 60 : 10);
    $s->{exited} = 1 if $ready eq 'exited';
    $s->{status} = $? if $ready eq 'exited';
    $s->{ready} = $ready eq 'ready';
    return $s;
}

sub children_of {
    my ($ppid) = @_;
    my @pids;
    opendir my $d, '/proc' or return ();
    for my $p (grep { /^\d+$/ } readdir $d) {
        open my $fh, '<', "/proc/$p/stat" or next;
        my $stat = <$fh> // next;
        # pid (comm) state ppid ...
        push @pids, $p if $stat =~ /\)\s+\S+\s+(\d+)/ && $1 == $ppid;
    }
    @pids = sort { $a <=> $b } @pids;
    return @pids;
}

# Workers of a pool: children of the spawner whose environment has
# VF_TEST_POOL=NAME (the tests' pools files set env[VF_TEST_POOL]=$pool).
sub pool_workers {
    my ($s, $pool) = @_;
    my @pids;
    for my $p (children_of($s->{pid})) {
        open my $fh, '<', "/proc/$p/environ" or next;
        local $/;
        my $env = <$fh> // '';
        push @pids, $p if $env =~ /(?:^|\0)VF_TEST_POOL=\Q$pool\E(?:\0|$)/;
    }
    return @pids;
}

# Graceful stop, bounded; then SIGKILL to whatever is left.
sub stop_spawner {
    my ($s, $timeout) = @_;
    return $s->{status} if $s->{exited};
    my @workers = children_of($s->{pid});
    kill 'TERM', $s->{pid};
    my $done = wait_for(sub { waitpid($s->{pid}, WNOHANG) == $s->{pid} },
                        $timeout // 40, 0.05);
    $s->{status} = $?;
    if (!$done) {
        kill 'KILL', $s->{pid};
        waitpid($s->{pid}, 0);
        $s->{status} = -1;
    }
    kill 'KILL', grep { kill 0, $_ } @workers;
    $s->{exited} = 1;
    return $s->{status};
}

END {
    my $rc = $?;
    stop_spawner($_, 10) for grep { !$_->{exited} } @SPAWNERS;
    $? = $rc;
}

sub spawner_status {
    my ($conf) = @_;
    my $out = `'${\ spawn_bin()}' -c '$conf' -s 2>&1`;
    return wantarray ? ($out, $? >> 8) : $out;
}

# One pool's row of `-s` as a hash (lower-case column names).
sub status_row {
    my ($out, $pool) = @_;
    my ($head) = $out =~ /^(POOL\s.*)$/m or return undef;
    my @cols = map { lc } split ' ', $head;
    for my $line (split /\n/, $out) {
        my @f = split ' ', $line, scalar @cols;
        next unless @f && $f[0] eq $pool;
        my %row;
        @row{@cols} = @f;
        return \%row;
    }
    return undef;
}

# ------------------------------------------------------------------
# A FastCGI client (FastCGI spec 1.0: records, name-value pairs)
# ------------------------------------------------------------------

sub _rec {
    my ($type, $id, $content) = @_;
    my $len = length $content;
    my $pad = (8 - $len % 8) % 8;
    return pack('CCnnCx', 1, $type, $id, $len, $pad) . $content
        . ("\0" x $pad);
}

sub _len { $_[0] < 128 ? pack('C', $_[0]) : pack('N', $_[0] | 0x80000000) }

sub _params {
    my ($env) = @_;
    return join '', map {
        _len(length $_) . _len(length $env->{$_}) . $_ . $env->{$_}
    } sort keys %$env;
}

sub _connect {
    my ($addr, $timeout) = @_;
    return IO::Socket::UNIX->new(Peer => $addr, Type => SOCK_STREAM,
                                 Timeout => $timeout)
        if $addr =~ m{^/};
    return IO::Socket::INET->new(PeerAddr => $addr, Timeout => $timeout);
}

# fcgi_request(ADDR, SCRIPT, timeout => S, sock => $reuse, keep => 1,
#              query => 'a=b')
# Returns { ok, body, headers, stdout, stderr, app_status, error, sock }.
# ok: an FCGI_END_REQUEST arrived.  With keep => 1 the connection stays
# open (FCGI_KEEP_CONN) and is returned in {sock} for the next request.
sub fcgi_request {
    my ($addr, $script, %o) = @_;
    my $timeout = $o{timeout} // 20;
    my $r = { ok => 0, stdout => '', stderr => '' };
    my $sock = $o{sock} // _connect($addr, $timeout);
    if (!$sock) {
        $r->{error} = "connect $addr: $!";
        return $r;
    }
    my %env = (
        SCRIPT_FILENAME => $script, SCRIPT_NAME => '/' . ($script =~ s{.*/}{}r),
        REQUEST_METHOD => 'GET', QUERY_STRING => $o{query} // '',
        SERVER_PROTOCOL => 'HTTP/1.1', GATEWAY_INTERFACE => 'CGI/1.1',
        REDIRECT_STATUS => '200', SERVER_NAME => 'localhost',
        REQUEST_URI => '/' . ($script =~ s{.*/}{}r),
    );
    my $id = 1;
    my $req = _rec(1, $id, pack('nCx5', 1, $o{keep} ? 1 : 0))
        . _rec(4, $id, _params(\%env)) . _rec(4, $id, '')
        . _rec(5, $id, '');
    local $SIG{PIPE} = 'IGNORE';
    if (!defined syswrite($sock, $req)) {
        $r->{error} = "write: $!";
        return $r;
    }
    my ($buf, $end, $sel) = ('', time + $timeout, IO::Select->new($sock));
    while (1) {
        while (length $buf >= 8) {
            my ($v, $type, $rid, $len, $pad) = unpack('CCnnC', $buf);
            last if length $buf < 8 + $len + $pad;
            my $c = substr($buf, 8, $len);
            substr($buf, 0, 8 + $len + $pad) = '';
            $r->{stdout} .= $c if $type == 6;
            $r->{stderr} .= $c if $type == 7;
            if ($type == 3) {
                $r->{ok} = 1;
                $r->{app_status} = unpack('N', $c);
                @$r{qw(headers body)} = split /\r?\n\r?\n/, $r->{stdout}, 2;
                $r->{body} //= '';
                if ($o{keep}) { $r->{sock} = $sock } else { close $sock }
                return $r;
            }
        }
        my $left = $end - time;
        if ($left <= 0 || !$sel->can_read($left)) {
            $r->{error} = 'timeout';
            last;
        }
        my $n = sysread($sock, $buf, 65536, length $buf);
        if (!$n) {
            $r->{error} = defined $n ? 'connection closed before '
                . 'FCGI_END_REQUEST' : "read: $!";
            last;
        }
    }
    close $sock;
    return $r;
}

# Forks one client per element of @jobs (each [ADDR, SCRIPT, %opts]), all
# at once; returns the results in order (ok, body or error, duration).
sub parallel_requests {
    my (@jobs) = @_;
    my @kids;
    for my $i (0 .. $#jobs) {
        pipe(my $r, my $w) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $r;
            my ($addr, $script, %o) = @{ $jobs[$i] };
            my $t0 = time;
            my $res = fcgi_request($addr, $script, %o);
            my $txt = $res->{ok} ? $res->{body} : "ERROR $res->{error}";
            $txt =~ s/\s+\z//;
            $txt =~ s/\n/\\n/g;
            printf $w "%d %.3f %s\n", $res->{ok}, time - $t0, $txt;
            close $w;
            POSIX::_exit(0);
        }
        close $w;
        push @kids, [$pid, $r];
    }
    my @out;
    for my $k (@kids) {
        my $fh = $k->[1];
        my $line = <$fh> // "0 0 ERROR client died\n";
        close $fh;
        waitpid($k->[0], 0);
        chomp $line;
        my ($ok, $dur, $txt) = split / /, $line, 3;
        $txt = '' unless defined $txt;
        $txt =~ s/\\n/\n/g;
        push @out, { ok => $ok, time => $dur, text => $txt };
    }
    return @out;
}

# Background load: PROCS clients each sending requests back to back to
# ADDR/SCRIPT until load_stop().  A request counts as failed unless it
# ends with FCGI_END_REQUEST and its body matches `expect`.
sub load_start {
    my (%o) = @_;
    my $stop = "$o{dir}/load-stop." . ($o{name} // 'x') . ".$$." . time;
    my @kids;
    for my $i (1 .. ($o{procs} // 4)) {
        pipe(my $r, my $w) or die "pipe: $!";
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            close $r;
            my ($ok, $fail, @err) = (0, 0);
            my $deadline = time + ($o{max_seconds} // 60);
            while (!-e $stop && time < $deadline) {
                my $res = fcgi_request($o{addr}, $o{script},
                                       timeout => $o{timeout} // 20);
                if ($res->{ok} && (!$o{expect} || $res->{body} =~ $o{expect})) {
                    $ok++;
                } else {
                    $fail++;
                    push @err, $res->{ok} ? "unexpected body: $res->{body}"
                                          : $res->{error};
                }
                sleep $o{pause} if $o{pause};
            }
            my $e = join(' | ', @err[0 .. ($#err < 4 ? $#err : 4)]);
            $e =~ s/\n/ /g;
            print $w "$ok $fail $e\n";
            close $w;
            POSIX::_exit(0);
        }
        close $w;
        push @kids, [$pid, $r];
    }
    return { stop => $stop, kids => \@kids };
}

sub load_stop {
    my ($h) = @_;
    write_file($h->{stop}, '');
    my ($ok, $fail, @err) = (0, 0);
    for my $k (@{ $h->{kids} }) {
        my $fh = $k->[1];
        my $line = <$fh> // "0 1 load client died\n";
        close $fh;
        waitpid($k->[0], 0);
        chomp $line;
        my ($o, $f, $e) = split / /, $line, 3;
        $ok += $o;
        $fail += $f;
        push @err, $e if defined $e && length $e;
    }
    unlink $h->{stop};
    return { ok => $ok, fail => $fail, errors => \@err };
}

1;
