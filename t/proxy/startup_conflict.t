# Loading mod_vhostfcgi together with mod_proxy_fcgi (both would be the
# handler of the fcgi scheme) must stop httpd at startup with a one-line
# error saying to load only one.  Checked on small generated configs run
# outside Apache::Test: first "apache2 -t", and if the config test lets it
# through, a real foreground start, which must fail.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use File::Path qw(make_path remove_tree);
use IO::Socket::INET ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);
use VhostFcgi::Test qw(:all);

plan tests => 2 + 3 * 3;

my $httpd = Apache::Test::vars('httpd') || '/usr/sbin/apache2';
my $base = Apache::Test::vars('t_logs') . '/startup_conflict';
my $user = Apache::Test::vars('user');
my $group = Apache::Test::vars('group');

my $stock = ['proxy_fcgi_module', VhostFcgi::Test::stock_fcgi_so()];
my $ours  = ['vhostfcgi_module',  VhostFcgi::Test::vhostfcgi_so()];

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                  LocalPort => 0, ReuseAddr => 1) or die "bind: $!";
    return $s->sockport;
}

# Writes a minimal server config loading the base modules plus @fcgi.
sub write_conf {
    my ($name, @fcgi) = @_;
    my $dir = "$base/$name";
    remove_tree($dir);
    make_path($dir);
    my $port = free_port();
    open my $fh, '>', "$dir/httpd.conf" or die "$dir/httpd.conf: $!";
    print $fh "$_\n" for VhostFcgi::Test::load_module_lines(@fcgi);
    print $fh <<"EOF";
ServerRoot "$dir"
ServerName localhost
Listen 127.0.0.1:$port
PidFile "$dir/httpd.pid"
ErrorLog "$dir/error_log"
DefaultRuntimeDir "$dir"
LogLevel warn
EOF
    print $fh "User $user\nGroup $group\n" if $> == 0;
    close $fh;
    return $dir;
}

sub slurp { my $f = shift; open my $fh, '<', $f or return ''; local $/; my $t = <$fh>; $t // '' }

# Runs httpd with @args; returns (exit code, stdout+stderr).  A server that
# does start (foreground) is stopped after $wait seconds: returns (undef, ...).
sub run_httpd {
    my ($dir, $wait, @args) = @_;
    my $out = "$dir/output";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', $out or die;
        open STDERR, '>&', \*STDOUT or die;
        exec $httpd, '-d', $dir, '-f', "$dir/httpd.conf", @args;
        exit 127;
    }
    my $deadline = time + $wait;
    while (time < $deadline) {
        return ($? >> 8, slurp($out)) if waitpid($pid, WNOHANG) == $pid;
        sleep 0.1;
    }
    kill 'TERM', $pid;
    waitpid($pid, 0);
    return (undef, slurp($out));
}

# The positive control: the module under test alone is a valid config.
{
    my $dir = write_conf('alone', VhostFcgi::Test::fcgi_module());
    my ($rc, $out) = run_httpd($dir, 30, '-t');
    is($rc, 0, 'the module under test alone: apache2 -t exits 0');
    like($out, qr/Syntax OK/, 'the module under test alone: Syntax OK');
}

for my $order (['proxy_fcgi first', $stock, $ours], ['vhostfcgi first', $ours, $stock],
               ['both, real start (-DFOREGROUND)', $stock, $ours]) {
    my ($what, @mods) = @$order;
    SKIP: {
        skip 'VF_MODULE=stock: there is no mod_vhostfcgi to conflict with', 3 if is_stock();
        (my $name = $what) =~ s/\W+/_/g;
        my $dir = write_conf($name, @mods);
        my ($rc, $out);
        if ($what =~ /FOREGROUND/) {
            ($rc, $out) = run_httpd($dir, 20, '-DFOREGROUND');
        }
        else {
            ($rc, $out) = run_httpd($dir, 30, '-t');
            # A conflict only detected when the server really starts:
            ($rc, $out) = run_httpd($dir, 20, '-DFOREGROUND') if defined $rc && $rc == 0;
        }
        $out .= slurp("$dir/error_log");
        ok(defined $rc && $rc != 0, "$what: httpd refuses to start")
            or diag("exit " . ($rc // 'none: it was running') . "\n$out");
        my @lines = grep { /proxy_fcgi/ && /vhostfcgi/ } split /\n/, $out;
        ok(@lines >= 1, "$what: one error line names both modules") or diag($out);
        ok((grep { /\bonly one\b|\bone or the other\b|\bnot both\b/i } @lines),
           "$what: the line says to load only one") or diag(join "\n", @lines);
    }
}
