#!/usr/bin/perl
# -t: the resolved pools with the origin of each value, and every kind of
# pools-file error as FILE:LINE: KEY: message; the daemon refuses the same
# files, and pools whose socket cannot be bound.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use VFSpawn;

skip_unless_ready();

ensure_user($_) for qw(vf-alice vf-bob);
my $dir = test_dir();
my $bin = spawn_bin();

sub check {
    my ($conf) = @_;
    my $out = `'$bin' -c '$conf' -t 2>'$dir/err'`;
    my $rc = $? >> 8;
    open my $fh, '<', "$dir/err";
    local $/;
    my $err = <$fh> // '';
    return ($rc, $out, $err);
}

sub conf {
    my ($name, $body) = @_;
    return write_file("$dir/$name.conf",
                      "[global]\nrun_dir = $dir/run\n$body");
}

# --- a valid file: a two-level template chain with overrides -----------
my $good = conf('good', <<'EOF2');
[base]
istemplate = 1
command = /usr/bin/php-cgi8.2
pm = ondemand
pm.max_children = 4
env[PATH] = /usr/bin:/bin

[vhost]
istemplate = 1
template = base
user = vf-$pool
pm.max_children = 6

[alice]
template = vhost
pm.max_children = 7

[bob]
template = vhost
pm = static

[bob2]
template = vhost
user = vf-bob
EOF2
my ($rc, $out, $err) = check($good);
is($rc, 0, '-t on a valid file exits 0') or diag $err;
like($out, qr/^\[alice\]/m, 'pool alice printed');
unlike($out, qr/^\[(?:base|vhost)\]/m, 'templates are not pools');
like($out, qr/^user = vf-alice\s+; \(from \Q$good\E:13 via template vhost\)/m,
     '$pool expanded, origin: the template that set it');
like($out, qr/^pm.max_children = 7\s+; \(from \Q$good\E:18\)/m,
     'override in the pool wins, with its own line');
like($out, qr/^\[bob\].*?^pm.max_children = 6\s+; \(from \Q$good\E:14 via template vhost\)/ms,
     'override in the middle template wins over the base');
like($out, qr/^command = \/usr\/bin\/php-cgi8.2\s+; \(from \Q$good\E:5 via template base\)/m,
     'a value inherited through two levels');
like($out, qr/^\[bob\].*?^pm = static\s+; \(from \Q$good\E:22\)/ms,
     'bob overrides pm');
like($out, qr/^listen = \Q$dir\E\/run\/alice.sock/m, 'default socket in run_dir');
like($err, qr/^warning: \Q$good\E:\d+: user: pools bob and bob2 both run as uid/m,
     'shared uid warned about');

# --- errors: FILE:LINE: KEY: message -----------------------------------
my %bad = (
    'template cycle' => [<<'EOF2', qr/^\Q$dir\E\/cycle.conf:\d+: template: .*cycle/],
[a]
istemplate = 1
template = b
[b]
istemplate = 1
template = a
[p]
template = a
user = vf-alice
command = /usr/bin/php-cgi8.2
EOF2
    'unknown template' => [<<'EOF2', qr/^\Q$dir\E\/unknown.conf:4: template: unknown template 'nosuch'/],
[p]
template = nosuch
user = vf-alice
command = /usr/bin/php-cgi8.2
EOF2
    'root user refused' => [<<'EOF2', qr/^\Q$dir\E\/root.conf:4: user: .*root/],
[p]
user = root
command = /usr/bin/php-cgi8.2
EOF2
    'root group refused' => [<<'EOF2', qr/^\Q$dir\E\/rootgroup.conf:6: group: .*root/],
[p]
user = vf-alice
command = /usr/bin/php-cgi8.2
group = root
EOF2
    'root inherited from a template' => [<<'EOF2', qr/^\Q$dir\E\/roottpl.conf:\d+: user: .*root/],
[t]
istemplate = 1
user = root
[p]
template = t
command = /usr/bin/php-cgi8.2
EOF2
    'unknown key' => [<<'EOF2', qr/^\Q$dir\E\/badkey.conf:6: pm.max_chidlren: unknown key/],
[p]
user = vf-alice
command = /usr/bin/php-cgi8.2
pm.max_chidlren = 3
EOF2
    'bad value' => [<<'EOF2', qr/^\Q$dir\E\/badval.conf:6: pm: bad value 'sometimes'/],
[p]
user = vf-alice
command = /usr/bin/php-cgi8.2
pm = sometimes
EOF2
    'bad number' => [<<'EOF2', qr/^\Q$dir\E\/badnum.conf:6: pm.max_children: /],
[p]
user = vf-alice
command = /usr/bin/php-cgi8.2
pm.max_children = lots
EOF2
    'unknown user' => [<<'EOF2', qr/^\Q$dir\E\/nouser.conf:4: user: .*unknown user/],
[p]
user = vf-nobody-here
command = /usr/bin/php-cgi8.2
EOF2
);
my %file = ('template cycle' => 'cycle', 'unknown template' => 'unknown',
    'root user refused' => 'root', 'root group refused' => 'rootgroup',
    'root inherited from a template' => 'roottpl', 'unknown key' => 'badkey',
    'bad value' => 'badval', 'bad number' => 'badnum',
    'unknown user' => 'nouser');
for my $case (sort keys %bad) {
    my $conf = conf($file{$case}, $bad{$case}[0]);
    my ($rc, $out, $err) = check($conf);
    is($rc, 1, "-t: $case: exit 1");
    like($err, $bad{$case}[1], "-t: $case: FILE:LINE: KEY: message")
        or diag $err;
    is($out, '', "-t: $case: nothing printed on stdout");
}

# --- the daemon refuses a bad file the same way ------------------------
{
    my $conf = "$dir/badval.conf";
    my $s = start_spawner(conf => $conf, dir => $dir,
                          log => "$dir/badval.log");
    ok($s->{exited} && ($s->{status} >> 8) == 1,
       'daemon with a bad file exits 1');
    like(log_text($s), qr/badval.conf:6: pm: bad value/, '... saying why');
}

# --- a pool that cannot bind is an error at startup --------------------
{
    mkdir "$dir/run";
    write_file("$dir/run/p.sock", "not a socket\n");
    my $conf = conf('nobind', <<'EOF2');
[p]
user = vf-alice
command = /usr/bin/php-cgi8.2
EOF2
    my $s = start_spawner(conf => $conf, dir => $dir, log => "$dir/nobind.log");
    ok($s->{exited} && ($s->{status} >> 8) == 1,
       'a file in the way of the socket: exit 1');
    like(log_text($s), qr/nobind.conf: listen: \[pool p\] cannot use \Q$dir\E\/run\/p.sock: a file that is not a socket/,
         '... with the reason') or diag log_text($s);
    unlink "$dir/run/p.sock";

    my $busy = IO::Socket::UNIX->new(Local => "$dir/run/p.sock",
                                      Type => SOCK_STREAM, Listen => 5)
        or die "listen: $!";
    $s = start_spawner(conf => $conf, dir => $dir, log => "$dir/inuse.log");
    ok($s->{exited} && ($s->{status} >> 8) == 1,
       'another server on the socket: exit 1');
    like(log_text($s), qr/\[pool p\] cannot use .*p.sock: address in use/,
         '... address in use') or diag log_text($s);
    ok(-S "$dir/run/p.sock", "... and the other server's socket is kept");
    close $busy;
}

# --- -h and usage --------------------------------------------------------
like(`'$bin' -h`, qr/usage: vhostfcgi-spawn -c POOLS_FILE/, '-h prints usage');
system("'$bin' >/dev/null 2>&1");
is($? >> 8, 2, 'no -c: usage error, exit 2');

done_testing();
