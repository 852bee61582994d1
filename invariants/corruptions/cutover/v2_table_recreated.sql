-- a *_v2 table re-created after the cutover
--@sets after_cutover
--@expect *_v2 left: order_fill_v2
CREATE TABLE order_fill_v2 (LIKE order_fill INCLUDING ALL);
