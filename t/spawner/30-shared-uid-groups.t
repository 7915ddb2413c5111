#!/usr/bin/perl
# Two user names may share a uid, each with supplementary groups of its
# own (an alias for one site's uid, given a group the other has not).  A
# pool's workers get the groups of the name its `user` line gives, as
# initgroups(3) with that name would.
#
# Regression: the groups were looked up by uid, so a pool of the second
# name got the first name's groups (getpwuid finds the first entry):
# here, vf-alias's pool lacked vf-aliasgrp, and in the other order a pool
# would have gained a group its user is not in.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VFSpawn;

skip_unless_ready();

ensure_user('vf-alice');
my ($ua, $ga) = (uid_of('vf-alice'), gid_of('vf-alice'));
# vf-alias: vf-alice's uid and primary group, and the group vf-aliasgrp,
# both made here and removed at the end.
END {
    system("userdel vf-alias >/dev/null 2>&1");
    system("groupdel vf-aliasgrp >/dev/null 2>&1");
}
system("userdel vf-alias >/dev/null 2>&1");
system("groupdel vf-aliasgrp >/dev/null 2>&1");
system('groupadd', '--system', 'vf-aliasgrp') == 0
    or BAIL_OUT('groupadd vf-aliasgrp failed');
system('useradd', '--system', '--no-create-home', '--shell',
       '/usr/sbin/nologin', '--non-unique', '--uid', $ua, '--gid', $ga,
       '--groups', 'vf-aliasgrp', 'vf-alias') == 0
    or BAIL_OUT('useradd vf-alias failed');
my $galias = gid_of('vf-aliasgrp');
is((getpwuid($ua))[0], 'vf-alice',
   'the uid names vf-alice first (what a lookup by uid finds)');

my $dir = test_dir();
mkdir "$dir/www";
chmod 0755, "$dir/www";
write_file("$dir/www/id.php", <<'PHP');
<?php
echo "uid=", posix_getuid(), " groups=", implode(',', posix_getgroups()), "\n";
PHP
my $conf = php_pools_conf($dir,
    alias => [user => 'vf-alias'],
    alice => [user => 'vf-alice']);
my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));

sub groups_of {
    my ($pool) = @_;
    my $r = fcgi_request("$dir/run/$pool.sock", "$dir/www/id.php");
    my $out = $r->{ok} ? $r->{body} : "ERROR $r->{error}";
    chomp $out;
    return $out;
}
my $alias = groups_of('alias');
like($alias, qr/^uid=$ua groups=/, 'the alias pool runs as the shared uid');
my ($g) = $alias =~ /groups=(\S*)/;
ok(grep({ $_ == $galias } split /,/, $g // ''),
   "the alias pool's workers have vf-aliasgrp ($galias): $alias");
my $alice = groups_of('alice');
($g) = $alice =~ /groups=(\S*)/;
ok(!grep({ $_ == $galias } split /,/, $g // ''),
   "the vf-alice pool's workers have not: $alice");

is(stop_spawner($s), 0, 'graceful stop');
done_testing();
