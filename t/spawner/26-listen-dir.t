#!/usr/bin/perl
# httpd hands a pool's socket its site's requests, cookies and uploads.
# A socket whose path passes through a directory a pool user may write is
# refused: that user could replace it with a socket of their own.  At
# start the spawner does not start, naming the directory and the pools
# file's line; on a reload the new pool is rejected and the running ones
# keep serving.  Sticky directories (like /tmp) and root's symlinks (like
# /var/run -> /run) are fine.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VFSpawn;

skip_unless_ready();

ensure_user('vf-alice');
my ($ua, $ga) = (uid_of('vf-alice'), gid_of('vf-alice'));
my $dir = test_dir();
mkdir "$dir/run";
mkdir "$dir/www";
chmod 0755, "$dir/www";
write_file("$dir/www/ok.php", "<?php echo \"ok\\n\";\n");

mkdir "$dir/alice";                             # a tenant's directory
chown $ua, $ga, "$dir/alice";
mkdir "$dir/alice/sub";                         # root's, but below alice's
mkdir "$dir/open";                              # root's, writable by all
chmod 0777, "$dir/open";
mkdir "$dir/sticky";                            # root's, like /tmp
chmod 01777, "$dir/sticky";
mkdir "$dir/real";
symlink "$dir/real", "$dir/rootlink" or die "symlink: $!";
symlink "$dir/real", "$dir/alicelink" or die "symlink: $!";
system('chown', '-h', "$ua:$ga", "$dir/alicelink") == 0 or die "chown -h";

# Starts a spawner with one pool listening on $sock; returns its output
# and exit code, or (for one that started) the running handle.
sub try_start {
    my ($sock) = @_;
    my $conf = php_pools_conf($dir, p => [listen => $sock, pm => 'static',
                                           'pm.max_children' => 1]);
    return start_spawner(conf => $conf, dir => $dir,
                         log => "$dir/spawner-" . int(rand(1e9)) . '.log');
}

my @refused = (
    ["$dir/alice/p.sock",     "$dir/alice is not owned by root"],
    ["$dir/alice/sub/p.sock", "$dir/alice is not owned by root"],
    ["$dir/open/p.sock",      "$dir/open is writable by group or others"],
    ["$dir/alicelink/p.sock", "$dir/alicelink is a symlink not owned by root"],
);
for my $case (@refused) {
    my ($sock, $why) = @$case;
    my $s = try_start($sock);
    ok($s->{exited} && $s->{status} != 0, "$sock: the spawner does not start")
        or stop_spawner($s);
    like(log_text($s), qr/pools\.conf:\d+: .*cannot use \Q$sock\E: \Q$why\E; every directory above a socket must be root's/,
         "... and names the pools file's line and $why")
        or diag(log_text($s));
    ok(!-e $sock, '... and binds nothing there');
}

for my $sock ("$dir/sticky/p.sock", "$dir/rootlink/p.sock") {
    my $s = try_start($sock);
    ok($s->{ready}, "$sock: accepted") or diag(log_text($s));
    ok(fcgi_request($sock, "$dir/www/ok.php", timeout => 5)->{ok},
       '... and serves');
    is(stop_spawner($s), 0, '... and stops');
}

# A reload that adds a pool on a tenant's directory: rejected, the
# running pool stays.
my $good = "$dir/run/p.sock";
my $s = try_start($good);
ok($s->{ready}, 'a pool on a safe path starts') or diag(log_text($s));
php_pools_conf($dir, p => [listen => $good, pm => 'static',
                           'pm.max_children' => 1],
                     q => [listen => "$dir/alice/q.sock"]);
kill 'HUP', $s->{pid};
ok(wait_for(sub { log_text($s) =~ /reload.*rejected|reload failed|keeping the running/i }, 5),
   'a reload adding a socket below a tenant\'s directory is rejected')
    or diag(log_text($s));
like(log_text($s), qr/pools\.conf:\d+: .*\Q$dir\E\/alice is not owned by root/,
     '... naming the pools file\'s line and the directory');
ok(!-e "$dir/alice/q.sock", '... q binds nothing');
ok(fcgi_request($good, "$dir/www/ok.php", timeout => 5)->{ok},
   'p still serves');
is(stop_spawner($s), 0, 'graceful stop');
done_testing();
