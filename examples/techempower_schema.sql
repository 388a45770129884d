-- TechEmpower's hello_world schema for MariaDB: TFB's toolset/databases/mysql/create.sql
-- with these changes:
--  - users: IDENTIFIED BY (MariaDB's mysql_native_password); MySQL 8's "IDENTIFIED WITH
--    mysql_native_password BY" is not MariaDB syntax. IF NOT EXISTS, so a database whose
--    owner already made the user (tests/support/mariadb_server) takes the file too.
--  - the 10,000 world rows come from MariaDB's sequence engine (seq_1_to_10000) in one
--    INSERT, instead of a stored procedure that needs the mysql client's DELIMITER; the
--    numbers are TFB's floor(rand() * 10000).
--  - fortune.message is utf8mb4: TFB's 'utf8' is MariaDB's 3-byte utf8mb3, which cannot hold
--    a character outside the BMP (an emoji).
-- Start mariadbd as TFB's my.cnf does: --lower-case-table-names=1 (the statements say World
-- and Fortune), --character-set-server=utf8 --collation-server=utf8_general_ci. Load as root:
--   mariadb -uroot < examples/techempower_schema.sql
SET GLOBAL time_zone = '+00:00';

CREATE DATABASE IF NOT EXISTS hello_world;
USE hello_world;

DROP TABLE IF EXISTS world;
CREATE TABLE world (
  id int(10) unsigned NOT NULL auto_increment,
  randomNumber int NOT NULL default 0,
  PRIMARY KEY (id)
) ENGINE=INNODB;
CREATE USER IF NOT EXISTS 'benchmarkdbuser'@'%' IDENTIFIED BY 'benchmarkdbpass';
CREATE USER IF NOT EXISTS 'benchmarkdbuser'@'localhost' IDENTIFIED BY 'benchmarkdbpass';
GRANT SELECT, UPDATE ON hello_world.world TO 'benchmarkdbuser'@'%';
GRANT SELECT, UPDATE ON hello_world.world TO 'benchmarkdbuser'@'localhost';
GRANT RELOAD ON *.* TO 'benchmarkdbuser'@'%';
GRANT RELOAD ON *.* TO 'benchmarkdbuser'@'localhost';

INSERT INTO world (id, randomNumber) SELECT seq, floor(0 + (rand() * 10000)) FROM seq_1_to_10000;

DROP TABLE IF EXISTS fortune;
CREATE TABLE fortune (
  id int(10) unsigned NOT NULL auto_increment,
  message varchar(2048) CHARACTER SET 'utf8mb4' NOT NULL,
  PRIMARY KEY (id)
) ENGINE=INNODB;
GRANT SELECT ON hello_world.fortune TO 'benchmarkdbuser'@'%';
GRANT SELECT ON hello_world.fortune TO 'benchmarkdbuser'@'localhost';

INSERT INTO fortune (message) VALUES ('fortune: No such file or directory');
INSERT INTO fortune (message) VALUES ('A computer scientist is someone who fixes things that aren''t broken.');
INSERT INTO fortune (message) VALUES ('After enough decimal places, nobody gives a damn.');
INSERT INTO fortune (message) VALUES ('A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1');
INSERT INTO fortune (message) VALUES ('A computer program does what you tell it to do, not what you want it to do.');
INSERT INTO fortune (message) VALUES ('Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen');
INSERT INTO fortune (message) VALUES ('Any program that runs right is obsolete.');
INSERT INTO fortune (message) VALUES ('A list is only as strong as its weakest link. — Donald Knuth');
INSERT INTO fortune (message) VALUES ('Feature: A bug with seniority.');
INSERT INTO fortune (message) VALUES ('Computers make very fast, very accurate mistakes.');
INSERT INTO fortune (message) VALUES ('<script>alert("This should not be displayed in a browser alert box.");</script>');
INSERT INTO fortune (message) VALUES ('フレームワークのベンチマーク');
